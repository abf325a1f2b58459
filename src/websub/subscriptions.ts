// WebSub subscriptions (store/subscriptions.ts keeps them). A subscription's callback and secret are
// the subscriber's (a callback URL may carry its own capability token): both are sealed by the
// vault, and the id is a hash, so the store never holds either in clear.
import { createHash } from 'node:crypto';
import type { Deps } from '../deps.js';
import type { Subscription } from '../model.js';

export type { Subscription };

type StoreDeps = Pick<Deps, 'registry'>;

/** One subscription per (topic, callback) pair (WebSub §5.1: a new request replaces the old). */
export function subscriptionIdOf(topic: string, callback: string): string {
  return createHash('sha256').update(`${topic}\n${callback}`).digest('base64url').slice(0, 32);
}

export function getSubscription(deps: StoreDeps, id: string): Promise<Subscription | undefined> {
  return deps.registry.subscriptions.get(id);
}

export function getSubscriptions(deps: StoreDeps, ids: string[]): Promise<Subscription[]> {
  return deps.registry.subscriptions.getMany(ids);
}

/** Rewrites the record alone (its indexes are unchanged). */
export function putSubscriptionRecord(deps: StoreDeps, subscription: Subscription): Promise<void> {
  return deps.registry.subscriptions.put(subscription);
}

/** Saves the record first, then the indexes: a reader of an index never finds a missing record twice. */
export function saveSubscription(deps: StoreDeps, subscription: Subscription): Promise<void> {
  return deps.registry.subscriptions.save(subscription);
}

export function deleteSubscription(deps: StoreDeps, subscription: Pick<Subscription, 'id' | 'feedId'>): Promise<void> {
  return deps.registry.subscriptions.delete(subscription);
}

export function subscriptionIdsOfFeed(deps: StoreDeps, feedId: string): Promise<string[]> {
  return deps.registry.subscriptions.idsOfFeed(feedId);
}

/**
 * `feedproxy keys rotate`: every sealed callback and secret, opened with `from` and sealed again
 * with `to` (idempotent, like the rest of the rotation).
 */
export async function resealSubscriptions(
  deps: StoreDeps,
  from: Pick<Deps['vault'], 'open'>,
  to: Pick<Deps['vault'], 'seal'>,
): Promise<number> {
  const subscriptions = await getSubscriptions(deps, await deps.registry.subscriptions.listIds());
  for (const subscription of subscriptions) {
    await putSubscriptionRecord(deps, {
      ...subscription,
      callbackSealed: to.seal(from.open(subscription.callbackSealed)),
      ...(subscription.secretSealed === undefined ? {} : { secretSealed: to.seal(from.open(subscription.secretSealed)) }),
    });
  }
  return subscriptions.length;
}
