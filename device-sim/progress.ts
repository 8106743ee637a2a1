// One live progress line on stderr: rewritten in place with \r on a terminal, one plain line per
// update otherwise (CI logs, files), so that a log never fills with carriage-return soup.

export interface ProgressSink {
  update(line: string): void;
  /** Ends the line (a newline after the last \r update). */
  done(): void;
}

export class StderrProgress implements ProgressSink {
  private dirty = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  update(line: string): void {
    if (this.tty) {
      // \x1b[K clears what a longer previous line left behind.
      this.stream.write(`\r${line}\x1b[K`);
      this.dirty = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  done(): void {
    if (this.tty && this.dirty) this.stream.write('\n');
    this.dirty = false;
  }
}

export const noProgress: ProgressSink = { update: () => {}, done: () => {} };
