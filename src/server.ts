// `feedproxy serve`: loadConfig → createDeps → buildApp → listen, plus the scheduler; a graceful
// close on SIGTERM/SIGINT (stop accepting, finish requests and refreshes, close the store).
// The role splits the two halves for larger deployments: `web` answers HTTP and never refreshes
// on a timer, `worker` refreshes and answers only /healthz, /readyz and /metrics, `all` does both.
import { createServer, type Server } from 'node:http';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { MethodNotAllowedError, NotFoundError, UnauthorizedError } from './errors.js';
import { METRICS_TOKEN_MESSAGE, metricsAllowed } from './routes/health.js';
import { startScheduler, type Scheduler } from './refresh/scheduler.js';
import { startDeliveryLoop, type DeliveryLoop } from './websub/delivery-loop.js';

export type Role = Config['role'];

/** Shorter admin tokens are accepted (a lab, a test) but named in the log. */
const WEAK_ADMIN_TOKEN_LENGTH = 16;

export async function serve(config: Readonly<Config>, role: Role = config.role): Promise<void> {
  const deps = await createDeps(config);
  const app = role === 'worker' ? undefined : await buildApp(deps);
  const probes = role === 'worker' ? createProbeServer(deps) : undefined;
  const scheduler: Scheduler | undefined = role === 'web' ? undefined : startScheduler(deps);
  // WebSub deliveries go with the refreshes that make them due.
  const delivery: DeliveryLoop | undefined = role === 'web' ? undefined : startDeliveryLoop(deps);
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    deps.logger.info({ signal }, 'shutting down');
    const forced = setTimeout(() => {
      deps.logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 45_000);
    forced.unref();
    try {
      await app?.close();
      if (probes) await new Promise((resolve) => probes.close(resolve));
      await scheduler?.stop();
      await delivery?.stop();
      await deps.close();
    } finally {
      clearTimeout(forced);
    }
  };
  const closeOn = (signal: string) => () =>
    close(signal).catch((error: unknown) => {
      // Whatever failed may have left a listener or the store's socket open: do not wait on them.
      deps.logger.error({ err: (error as Error).message }, 'shutdown failed');
      process.exit(1);
    });
  process.once('SIGTERM', closeOn('SIGTERM'));
  process.once('SIGINT', closeOn('SIGINT'));

  if (app) await app.listen({ port: config.port, host: config.host });
  if (probes) await new Promise<void>((resolve, reject) => probes.once('error', reject).listen(config.port, config.host, resolve));
  deps.logger.info({ publicUrl: config.publicUrl, store: config.store.split(':')[0], role }, 'feedproxy ready');
  if (config.adminToken !== undefined && config.adminToken.length < WEAK_ADMIN_TOKEN_LENGTH) {
    deps.logger.warn(`FEEDPROXY_ADMIN_TOKEN is shorter than ${WEAK_ADMIN_TOKEN_LENGTH} characters: anyone who guesses it can create users`);
  }
}

/**
 * A worker has no API to serve, but orchestrators still probe it and Prometheus still scrapes it:
 * the three operational routes on node:http, answering like the app's own (routes/health.ts).
 */
function createProbeServer(deps: Deps): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    const fail = ({ statusCode, code, message }: { statusCode: number; code: string; message: string }) => json(statusCode, { statusCode, error: code, message });
    if (request.method !== 'GET' && request.method !== 'HEAD') return fail(new MethodNotAllowedError('Only GET'));
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      return void deps.registry.store.ping().then(
        () => json(200, { status: 'ready' }),
        () => json(503, { status: 'store unavailable' }),
      );
    }
    if (path === '/metrics') {
      if (!metricsAllowed(deps.config, request.headers.authorization)) {
        response.setHeader('www-authenticate', 'Bearer realm="metrics"');
        return json(401, { statusCode: 401, error: UnauthorizedError.code, message: METRICS_TOKEN_MESSAGE });
      }
      return void deps.metrics.render().then(
        ({ body, contentType }) => response.writeHead(200, { 'content-type': contentType }).end(body),
        () => response.writeHead(500).end(),
      );
    }
    fail({ code: NotFoundError.code, statusCode: 404, message: `No route for ${request.method} ${path} on a worker` });
  });
}
