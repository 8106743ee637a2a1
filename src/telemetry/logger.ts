import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout (pino); pipe through `pino-pretty` to read them by eye. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'ingest-bridge', ...bindings } });
}
