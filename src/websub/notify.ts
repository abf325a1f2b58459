// Called by publish/rebuild-feed after a feed's published bytes changed (issue 8: WebSub fan-out).
// It runs in the refresh path, so it only records who is owed a delivery — one set read, one set
// add per subscriber, durable in the store — and the delivery loop does the sending. It never
// throws: a failure here must not fail the refresh that published the feed.
import type { Deps } from '../deps.js';
import { subscriptionIdsOfFeed } from './subscriptions.js';

type NotifyDeps = Pick<Deps, 'registry' | 'metrics' | 'logger'>;

export async function onFeedPublished(deps: NotifyDeps, feedId: string): Promise<void> {
  try {
    const ids = await subscriptionIdsOfFeed(deps, feedId);
    for (const id of ids) await deps.registry.subscriptions.markDue(id);
    if (ids.length > 0) deps.metrics.websubDeliveries.inc({ outcome: 'queued' }, ids.length);
  } catch (error) {
    deps.logger.error({ feed: feedId, err: (error as Error).message }, 'websub: could not queue deliveries');
  }
}
