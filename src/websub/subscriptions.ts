// WebSub subscriptions in the store, under keys of our own. A subscription's callback and secret are
// the subscriber's (a callback URL may carry its own capability token): both are sealed by the
// vault, and the id is a hash, so the store never holds either in clear.
import { createHash } from 'node:crypto';
import type { Deps } from '../deps.js';
import type { RenderedFormat } from '../model.js';

export interface Subscription {
  id: string;
  /** The public feed URL subscribed to, exactly as given (what rel=self names in deliveries). */
  topic: string;
  feedId: string;
  /** The public token of the topic: a revoked one ends the subscription. */
  token: string;
  format: RenderedFormat;
  callbackSealed: string;
  /** For logs: the callback's host, never its path or query. */
  callbackHost: string;
  secretSealed?: string;
  leaseSeconds: number;
  /** ISO 8601. */
  expiresAt: string;
  createdAt: string;
  /** ETag of the last document this subscriber acknowledged: never sent twice in a row. */
  deliveredEtag?: string;
  /** Failed attempts in a row of the pending delivery. */
  failures: number;
  /** ISO 8601; the pending delivery waits until then (backoff). */
  retryAt?: string;
}

type StoreDeps = Pick<Deps, 'registry'>;

const key = {
  subscription: (id: string) => `websub:sub:${id}`,
  /** Lease held by the one process delivering to a subscription. */
  delivery: (id: string) => `websub:deliver:${id}`,
};
export const websubSets = {
  all: 'websub:subs',
  feed: (feedId: string) => `websub:feed:${feedId}`,
  /** Subscriptions owed a delivery: written by onFeedPublished, emptied by the delivery loop. */
  due: 'websub:due',
};
export const deliveryLeaseKey = key.delivery;

/** One subscription per (topic, callback) pair (WebSub §5.1: a new request replaces the old). */
export function subscriptionIdOf(topic: string, callback: string): string {
  return createHash('sha256').update(`${topic}\n${callback}`).digest('base64url').slice(0, 32);
}

export function getSubscription(deps: StoreDeps, id: string): Promise<Subscription | undefined> {
  return deps.registry.store.get<Subscription>(key.subscription(id));
}

export async function getSubscriptions(deps: StoreDeps, ids: string[]): Promise<Subscription[]> {
  const records = await deps.registry.store.getMany<Subscription>(ids.map(key.subscription));
  return records.filter((record): record is Subscription => record !== undefined);
}

/** Rewrites the record alone (its indexes are unchanged). */
export async function putSubscriptionRecord(deps: StoreDeps, subscription: Subscription): Promise<void> {
  await deps.registry.store.set(key.subscription(subscription.id), subscription);
}

/** Saves the record first, then the indexes: a reader of an index never finds a missing record twice. */
export async function saveSubscription(deps: StoreDeps, subscription: Subscription): Promise<void> {
  const { store } = deps.registry;
  await store.set(key.subscription(subscription.id), subscription);
  await store.addMember(websubSets.all, subscription.id);
  await store.addMember(websubSets.feed(subscription.feedId), subscription.id);
}

export async function deleteSubscription(deps: StoreDeps, subscription: Pick<Subscription, 'id' | 'feedId'>): Promise<void> {
  const { store } = deps.registry;
  await store.removeMember(websubSets.feed(subscription.feedId), subscription.id);
  await store.removeMember(websubSets.due, subscription.id);
  await store.removeMember(websubSets.all, subscription.id);
  await store.delete(key.subscription(subscription.id));
}

export function subscriptionIdsOfFeed(deps: StoreDeps, feedId: string): Promise<string[]> {
  return deps.registry.store.members(websubSets.feed(feedId));
}

/**
 * `feedproxy keys rotate`: every sealed callback and secret, opened with `from` and sealed again
 * with `to` (idempotent, like the rest of the rotation).
 */
export async function resealSubscriptions(deps: StoreDeps, from: Pick<Deps['vault'], 'open'>, to: Pick<Deps['vault'], 'seal'>): Promise<number> {
  const subscriptions = await getSubscriptions(deps, await deps.registry.store.members(websubSets.all));
  for (const subscription of subscriptions) {
    await putSubscriptionRecord(deps, {
      ...subscription,
      callbackSealed: to.seal(from.open(subscription.callbackSealed)),
      ...(subscription.secretSealed === undefined ? {} : { secretSealed: to.seal(from.open(subscription.secretSealed)) }),
    });
  }
  return subscriptions.length;
}
