// The delivery loop of `feedproxy serve` (roles all and worker): every tick, send what the due set
// holds, a few at once; every few minutes, drop subscriptions whose lease lapsed or whose topic was
// revoked. Every instance runs one; store leases make each delivery, and each sweep, happen once.
import type { Deps } from '../deps.js';
import { findPublishedFeed } from '../publish/published.js';
import { deliverDue, type DeliverDeps } from './deliver.js';
import { lease } from '../store/leases.js';
import { deleteSubscription, getSubscriptions, type Subscription } from './subscriptions.js';

export interface DeliveryLoop {
  /** Runs one round now (tests, and each timer tick). */
  tick(): Promise<void>;
  /** Stops ticking and waits for the deliveries under way. */
  stop(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 5 * 60_000;
const SWEEP_CHUNK = 500;

export function startDeliveryLoop(deps: DeliverDeps, options: { timer?: boolean } = {}): DeliveryLoop {
  const tickMs = deps.config.websub.tickSeconds * 1000;
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastSweep = Number.NEGATIVE_INFINITY;

  const round = async () => {
    const now = deps.now().getTime();
    await deliverReady(deps, now, () => stopped);
    if (now - lastSweep >= SWEEP_INTERVAL_MS) {
      lastSweep = now;
      await sweepSubscriptions(deps, now);
    }
  };
  const tick = () => {
    // A slow round is not piled on.
    running ??= round()
      .catch((error: unknown) => deps.logger.error({ err: (error as Error).message }, 'websub delivery round failed'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void tick().finally(schedule), tickMs);
    timer.unref();
  };
  if (options.timer !== false) schedule();

  return {
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** Due subscriptions whose backoff has passed, `concurrency` at a time. */
async function deliverReady(deps: DeliverDeps, now: number, isStopped: () => boolean): Promise<void> {
  const due = await deps.registry.subscriptions.dueIds();
  if (due.length === 0) return;
  const records = new Map((await getSubscriptions(deps, due)).map((record) => [record.id, record]));
  // A missing record still goes through deliverDue, which takes it off the due set.
  const ready = due.filter((id) => {
    const record = records.get(id);
    return !record || isReady(record, now);
  });
  let next = 0;
  const worker = async () => {
    while (next < ready.length && !isStopped()) {
      const id = ready[next++]!;
      await deliverDue(deps, id).catch((error: unknown) =>
        deps.logger.error({ subscription: id, err: (error as Error).message }, 'websub delivery failed unexpectedly'),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.config.websub.concurrency, ready.length) }, worker));
}

function isReady(subscription: Subscription, now: number): boolean {
  return subscription.retryAt === undefined || Date.parse(subscription.retryAt) <= now || Date.parse(subscription.expiresAt) <= now;
}

/**
 * Drops subscriptions whose lease lapsed (WebSub §5.1: they end unless renewed) or whose topic no
 * longer opens a feed (token revoked or rotated, feed deleted). One instance sweeps per interval:
 * the lease is kept, not released, so the others skip until it lapses.
 */
export async function sweepSubscriptions(deps: Pick<Deps, 'registry' | 'logger' | 'instanceId'>, now: number): Promise<number> {
  if (!(await deps.registry.leases.acquire(lease.websubSweep, deps.instanceId, SWEEP_INTERVAL_MS))) return 0;
  const ids = await deps.registry.subscriptions.listIds();
  const live = new Map<string, boolean>();
  let dropped = 0;
  for (let start = 0; start < ids.length; start += SWEEP_CHUNK) {
    for (const subscription of await getSubscriptions(deps, ids.slice(start, start + SWEEP_CHUNK))) {
      if (!live.has(subscription.token)) {
        live.set(subscription.token, (await findPublishedFeed(deps, subscription.token))?.feedId === subscription.feedId);
      }
      const reason =
        Date.parse(subscription.expiresAt) <= now ? 'lease expired' : live.get(subscription.token) ? undefined : 'topic revoked';
      if (reason === undefined) continue;
      await deleteSubscription(deps, subscription);
      deps.logger.info({ subscription: subscription.id, host: subscription.callbackHost, reason }, 'websub subscription dropped');
      dropped += 1;
    }
  }
  return dropped;
}
