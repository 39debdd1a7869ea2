import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { bearerToken } from './http-util.js';

/*
 * Exposure and resource limits of the HTTP listeners (issue 9). /metrics tells anyone
 * who reads it how many users are online and how busy the node is: on the public
 * listener it needs METRICS_TOKEN; METRICS_PORT opens an internal listener (127.0.0.1 by
 * default) for a scraper that cannot send a token.
 */

/** True when the request carries the metrics bearer token (constant-time compare). */
export function metricsAuthorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return false;
  const given = Buffer.from(bearerToken(req) ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export interface HttpLimits {
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * Time and count bounds on a listener: a client that trickles headers or a body is cut
 * at the timeouts, an idle keep-alive connection after 5 s, a connection that stops
 * reading a response after 60 s without progress (ws turns that timer off for upgraded
 * sockets, which the stall check in Connection covers), and connections past
 * maxConnections (HTTP and sockets together) are refused at accept.
 */
export function applyHttpLimits(server: Server, limits: HttpLimits): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.timeout = 60_000;
}

/** The internal metrics listener: GET /metrics only. */
export async function startMetricsListener(metrics: Metrics, port: number, host: string, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'metrics failed');
        res.writeHead(500).end();
      },
    );
  });
  applyHttpLimits(server, { maxConnections: 64, headersTimeoutMs: 5_000, requestTimeoutMs: 10_000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
