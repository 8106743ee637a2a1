// Admin HTTP: health, readiness, Prometheus metrics, and the operator's read-only views.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export type RouteResult = { status: number; body: unknown; contentType?: string };
export type Route = (req: IncomingMessage, params: string[]) => Promise<RouteResult> | RouteResult;

/** Routes match a path pattern whose `:name` segments become positional params. */
export class AdminServer {
  private readonly routes: { parts: string[]; route: Route }[] = [];
  private server: Server | null = null;
  port = 0;

  constructor(registry: Registry) {
    this.get('/metrics', async () => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType }));
  }

  get(pattern: string, route: Route): this {
    this.routes.push({ parts: pattern.split('/').filter(Boolean), route });
    return this;
  }

  private match(path: string): { route: Route; params: string[] } | null {
    const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    for (const r of this.routes) {
      if (r.parts.length !== segs.length) continue;
      const params: string[] = [];
      if (r.parts.every((p, i) => (p.startsWith(':') ? (params.push(segs[i]!), true) : p === segs[i]))) return { route: r.route, params };
    }
    return null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const m = req.method === 'GET' || req.method === 'HEAD' ? this.match(url.pathname) : null;
    let result: RouteResult;
    if (!m) {
      result = { status: req.method === 'GET' ? 404 : 405, body: { error: 'not found' } };
    } else {
      try {
        result = await m.route(req, m.params);
      } catch (err) {
        result = { status: 500, body: { error: (err as Error).message } };
      }
    }
    const text = typeof result.body === 'string' ? result.body : `${JSON.stringify(result.body, null, 2)}\n`;
    res.writeHead(result.status, {
      'content-type': result.contentType ?? (typeof result.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  async listen(host: string, port: number): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    return this.port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
