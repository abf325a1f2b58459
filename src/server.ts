// `feedproxy serve`: loadConfig → createDeps → buildApp → listen, plus the scheduler; a graceful
// close on SIGTERM/SIGINT (stop accepting, finish requests and refreshes, close the store).
// The role splits the two halves for larger deployments: `web` answers HTTP and never refreshes
// on a timer, `worker` refreshes and answers only /healthz, /readyz and /metrics, `all` does both.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { buildApp } from './app.js';
import { ConfigError, describeConfigSource, describeStore, type Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { applyHeapGrowth } from './heap-growth.js';
import { MethodNotAllowedError, NotFoundError, UnauthorizedError } from './errors.js';
import { METRICS_TOKEN_MESSAGE, metricsAllowed } from './routes/health.js';
import { startScheduler, type Scheduler } from './refresh/scheduler.js';
import { startDeliveryLoop, type DeliveryLoop } from './websub/delivery-loop.js';
import { VERSION } from './version.js';

/**
 * Connections waiting to be accepted. Readers poll in bursts (cron on the hour, an aggregator's
 * sweep); Node's default of 511 dropped handshakes at 1,000 concurrent connections in bench 1
 * (bench/diagnoses.md 1., session 9). The kernel caps it at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 2048;

export type Role = Config['role'];

/** Shorter admin tokens are accepted (a lab, a test) but named in the log. */
const WEAK_ADMIN_TOKEN_LENGTH = 16;

export async function serve(configured: Readonly<Config>, role: Role = configured.role): Promise<void> {
  applyHeapGrowth(configured.memory.heapGrowthPercent);
  const config = await withListenPort(configured);
  const keyFile = config.secretKey === undefined && config.store.startsWith('sqlite://') ? join(config.dataDir, 'secret.key') : undefined;
  const keyCreated = keyFile !== undefined && !existsSync(keyFile);
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

  try {
    if (app) await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
    if (probes) await new Promise<void>((resolve, reject) => probes.once('error', reject).listen(config.port, config.host, resolve));
  } catch (error) {
    throw listenError(error, config);
  }
  deps.logger.info(
    { publicUrl: config.publicUrl, store: config.store.split(':')[0], role, ...(keyCreated ? { secretKeyCreated: keyFile } : {}) },
    'feedproxy ready',
  );
  // A person at a terminal gets the addresses in words; machines (no TTY) keep the JSON line alone.
  if (process.stdout.isTTY) process.stdout.write(banner(config, role, keyCreated ? keyFile : undefined));
  if (config.adminToken !== undefined && config.adminToken.length < WEAK_ADMIN_TOKEN_LENGTH) {
    deps.logger.warn(`FEEDPROXY_ADMIN_TOKEN is shorter than ${WEAK_ADMIN_TOKEN_LENGTH} characters: anyone who guesses it can create users`);
  }
}

/** What someone who just ran `npm start` wants to know, and the one thing they must do the first time. */
export function banner(config: Readonly<Config>, role: Role, createdKeyFile: string | undefined): string {
  const listening = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const lines = [
    '',
    `  feedproxy ${VERSION} is running (role ${role})`,
    `  URL:        ${config.publicUrl}${listening !== config.publicUrl ? `  (listening on ${listening})` : ''}`,
    ...(role === 'worker' ? [] : [`  Dashboard:  ${config.publicUrl}/dashboard`, `  API docs:   ${config.publicUrl}/docs`]),
    `  Store:      ${describeStore(config)}`,
    `  Config:     ${describeConfigSource(config).split(';')[0]}`,
    ...(createdKeyFile
      ? [
          '',
          `  Created ${createdKeyFile}: the key to every secret in the store.`,
          '  Back it up now, apart from the store: without it no source can be fetched again.',
        ]
      : []),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * PORT=0 asks for any free port. Links and OAuth callbacks must name the real one, so it is taken
 * before anything is built from the config (a port free now is, in practice, still free a moment later).
 */
async function withListenPort(config: Readonly<Config>): Promise<Readonly<Config>> {
  if (config.port !== 0) return config;
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (error) => reject(listenError(error, config)));
    probe.listen(0, config.host, () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  const publicUrl = config.publicUrl.endsWith(':0') ? `${config.publicUrl.slice(0, -2)}:${port}` : config.publicUrl;
  return Object.freeze({ ...config, port, publicUrl });
}

/** A listen failure is a configuration mistake the operator can fix: name the variable. */
function listenError(error: unknown, config: Readonly<Config>): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL' || code === 'EAI_NONAME') {
    return new ConfigError(
      'HOST',
      `cannot listen on "${config.host}": not an address of this machine; accepts an IP address or a name that resolves to one, e.g. 127.0.0.1 or 0.0.0.0`,
    );
  }
  if (code === 'EADDRINUSE')
    return new ConfigError(
      'PORT',
      `port ${config.port} on ${config.host} is already in use; stop the other process or choose another PORT (0 picks a free one)`,
    );
  if (code === 'EACCES')
    return new ConfigError('PORT', `port ${config.port} needs privileges; use a port above 1023 (and a reverse proxy for 80/443)`);
  return error as Error;
}

/**
 * A worker has no API to serve, but orchestrators still probe it and Prometheus still scrapes it:
 * the three operational routes on node:http, answering like the app's own (routes/health.ts).
 */
function createProbeServer(deps: Deps): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    const fail = ({ statusCode, code, message }: { statusCode: number; code: string; message: string }) =>
      json(statusCode, { statusCode, error: code, message });
    if (request.method !== 'GET' && request.method !== 'HEAD') return fail(new MethodNotAllowedError('Only GET'));
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      return void deps.registry.ping().then(
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
