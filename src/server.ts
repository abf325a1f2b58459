// `feedproxy serve`: loadConfig → createDeps → buildApp → listen, plus the scheduler; a graceful
// close on SIGTERM/SIGINT (stop accepting, finish requests and refreshes, close the store).
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { createDeps } from './deps.js';
import { startScheduler } from './refresh/scheduler.js';

export async function serve(config: Readonly<Config>): Promise<void> {
  const deps = await createDeps(config);
  const app = await buildApp(deps);
  const scheduler = startScheduler(deps);
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
      await app.close();
      await scheduler.stop();
      await deps.close();
    } finally {
      clearTimeout(forced);
    }
  };
  process.once('SIGTERM', () => void close('SIGTERM'));
  process.once('SIGINT', () => void close('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  deps.logger.info({ publicUrl: config.publicUrl, store: config.store.split(':')[0] }, 'feedproxy ready');
}
