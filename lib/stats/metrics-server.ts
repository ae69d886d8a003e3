import { createServer, type Server } from 'node:http';
import type { Logger } from '../log/index.js';
import type { Registry } from 'prom-client';

export interface MetricsEndpoint {
  /** The bound address (port 0 in the config picks a free one). */
  address: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format; everything else is 404. */
export async function startMetricsEndpoint(registry: Registry, address: string, port: number, log: Logger): Promise<MetricsEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const actualPort = typeof bound === 'object' && bound ? bound.port : port;
  log.info({ address, port: actualPort }, 'serving Prometheus metrics on /metrics');
  return {
    address,
    port: actualPort,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
