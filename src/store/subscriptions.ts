// WebSub subscriptions (websub/): the records (callback and secret sealed, the id a hash), the index
// of every subscription and of each feed's, and the set of those owed a delivery.
import type { Subscription } from '../model.js';
import type { KeyValueStore } from './kv.js';
import { getMany, key, set } from './keys.js';

export type SubscriptionRepository = ReturnType<typeof createSubscriptionRepository>;

export function createSubscriptionRepository(store: KeyValueStore) {
  return {
    get(id: string): Promise<Subscription | undefined> {
      return store.get<Subscription>(key.subscription(id));
    },
    getMany(ids: string[]): Promise<Subscription[]> {
      return getMany<Subscription>(store, ids, key.subscription);
    },
    /** Rewrites the record alone (its indexes are unchanged). */
    async put(subscription: Subscription): Promise<void> {
      await store.set(key.subscription(subscription.id), subscription);
    },
    /** Saves the record first, then the indexes: a reader of an index never finds a missing record twice. */
    async save(subscription: Subscription): Promise<void> {
      await store.set(key.subscription(subscription.id), subscription);
      await store.addMember(set.subscriptions, subscription.id);
      await store.addMember(set.feedSubscriptions(subscription.feedId), subscription.id);
    },
    async delete(subscription: Pick<Subscription, 'id' | 'feedId'>): Promise<void> {
      await store.removeMember(set.feedSubscriptions(subscription.feedId), subscription.id);
      await store.removeMember(set.dueSubscriptions, subscription.id);
      await store.removeMember(set.subscriptions, subscription.id);
      await store.delete(key.subscription(subscription.id));
    },
    listIds(): Promise<string[]> {
      return store.members(set.subscriptions);
    },
    idsOfFeed(feedId: string): Promise<string[]> {
      return store.members(set.feedSubscriptions(feedId));
    },
    /** Owed a delivery of its topic's current document. */
    async markDue(id: string): Promise<void> {
      await store.addMember(set.dueSubscriptions, id);
    },
    async unmarkDue(id: string): Promise<void> {
      await store.removeMember(set.dueSubscriptions, id);
    },
    dueIds(): Promise<string[]> {
      return store.members(set.dueSubscriptions);
    },
  };
}
