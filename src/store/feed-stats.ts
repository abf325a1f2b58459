// Storage of the usage counters of a feed's public URLs (stats/feed-stats.ts counts them in memory
// and flushes here): one record of counter fields per feed, incremented atomically across processes.
import type { KeyValueStore } from './kv.js';
import { key } from './keys.js';

export type FeedStatsStorage = ReturnType<typeof createFeedStatsStorage>;

export function createFeedStatsStorage(store: Pick<KeyValueStore, 'readFields' | 'incrementFields' | 'setFields' | 'deleteFields'>) {
  return {
    read(feedId: string): Promise<Record<string, string>> {
      return store.readFields(key.feedStats(feedId));
    },
    increment(feedId: string, counts: Record<string, number>): Promise<void> {
      return store.incrementFields(key.feedStats(feedId), counts);
    },
    set(feedId: string, values: Record<string, string>): Promise<void> {
      return store.setFields(key.feedStats(feedId), values);
    },
    /** The named fields, or every field of the feed (it was deleted). */
    delete(feedId: string, fields?: string[]): Promise<void> {
      return store.deleteFields(key.feedStats(feedId), fields);
    },
  };
}
