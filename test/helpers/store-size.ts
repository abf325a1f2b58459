// How much a test app's store holds, counted the same way on both stores: what a user's requests
// leave behind (a store that grows with every request is a denial of service on disk or memory).
import type { TestApp } from './app.js';
import { countRedisItems } from './redis-keys.js';
import { openSecondConnection } from './second-connection.js';
import { REDIS_URL } from './stores.js';

/** Records, counter fields and set members (SQLite: rows of keyv, fp_fields, fp_sets; Redis: the same by key type). */
export async function storedItemCount(t: Pick<TestApp, 'store' | 'dir' | 'redisPrefix'>): Promise<number> {
  if (t.store === 'redis') return countRedisItems(REDIS_URL, t.redisPrefix!);
  const connection = openSecondConnection(t);
  try {
    const [row] = await connection.rows(
      'SELECT (SELECT count(*) FROM keyv) + (SELECT count(*) FROM fp_fields) + (SELECT count(*) FROM fp_sets) AS n',
    );
    return Number(row!.n);
  } finally {
    await connection.close();
  }
}
