// When a failure is the store being unavailable for a moment rather than a bug: one decision for the
// API's error handler (app.ts) and the dashboard's (routes/dashboard/index.ts), and how background
// work (the scheduler, a refresh batch, the cron run) logs it.
import type { Deps } from './deps.js';
import type { Logger } from './logger.js';
import { isStoreBusy } from './store/kv.js';

/** How long a client waits before retrying while the store is away (Redis restarts in seconds). */
export const STORE_RETRY_AFTER_MS = 5000;

/**
 * The store is away (Redis restarting: the ping fails) or busy (another process holding SQLite's write
 * lock past the busy timeout: a ping still answers, the error says SQLITE_BUSY). Either way the next
 * request works as soon as the store answers: 503 with Retry-After, logged at warn.
 */
export async function isStoreUnavailable(deps: Pick<Deps, 'registry'>, error: unknown): Promise<boolean> {
  if (isStoreBusy(error)) return true;
  return deps.registry.ping().then(
    () => false,
    () => true,
  );
}

/**
 * Logs a failure of background work (the scheduler's claims, settles and rebuilds). A busy store is
 * no bug: the work is left as it was (sources still due, claims lapsing, rebuilds still marked
 * pending) and the next tick does it, so it is a warning that says so; anything else is an error.
 * Redis has no busy: its failures stay errors, as before.
 */
export function logBackgroundFailure(logger: Logger, error: unknown, work: string, fields: Record<string, unknown> = {}): void {
  const err = (error as Error | undefined)?.message;
  if (isStoreBusy(error)) logger.warn({ ...fields, err }, `${work} put off: the store is busy`);
  else logger.error({ ...fields, err }, `${work} failed`);
}
