// When a failed request is the store being unavailable for a moment rather than a bug: one decision
// for the API's error handler (app.ts) and the dashboard's (routes/dashboard/index.ts).
import type { Deps } from './deps.js';
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
