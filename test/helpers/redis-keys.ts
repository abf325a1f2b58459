// Redis helpers for tests and benches (not the product): whether a server answers, what a prefix
// holds, and clearing a prefix, with a short-lived connection of their own.
import { createClient } from '@keyv/redis';

type RedisClient = ReturnType<typeof createClient>;

async function connect(url: string): Promise<RedisClient> {
  const client = createClient({ url, disableOfflineQueue: true, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {
    /* surfaced by the failing command */
  });
  await client.connect();
  return client as RedisClient;
}

/** True when a Redis server answers PING at `url` within a second or so. */
export async function isRedisReachable(url: string): Promise<boolean> {
  let client: RedisClient | undefined;
  try {
    client = await connect(url);
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    if (client?.isOpen) client.destroy();
  }
}

/**
 * Every key under `prefix` with what Redis holds for it (a string value, or a set's members joined
 * by newlines), read with SCAN: for operators' checks and for tests that inspect the store's bytes.
 */
export async function readRedisPrefix(url: string, prefix: string): Promise<Map<string, string>> {
  const client = await connect(url);
  try {
    const found = new Map<string, string>();
    for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 500 })) {
      for (const key of keys) {
        const type = await client.type(key);
        if (type === 'string') found.set(key, (await client.get(key)) ?? '');
        else if (type === 'set') found.set(key, (await client.sMembers(key)).join('\n'));
        else found.set(key, `<${type}>`);
      }
    }
    return found;
  } finally {
    client.destroy();
  }
}

/** How many items a prefix holds: a string key is one, a hash one a field, a set or sorted set one a member. */
export async function countRedisItems(url: string, prefix: string): Promise<number> {
  const client = await connect(url);
  try {
    let count = 0;
    for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 500 })) {
      for (const key of keys) {
        const type = await client.type(key);
        if (type === 'hash') count += await client.hLen(key);
        else if (type === 'set') count += await client.sCard(key);
        else if (type === 'zset') count += await client.zCard(key);
        else count += 1;
      }
    }
    return count;
  } finally {
    client.destroy();
  }
}

/** Milliseconds until `key` expires: -1 when it never does, -2 when it does not exist (PTTL). */
export async function redisKeyTtlMs(url: string, key: string): Promise<number> {
  const client = await connect(url);
  try {
    return await client.pTTL(key);
  } finally {
    client.destroy();
  }
}

/** Deletes every key under `prefix` (SCAN + DEL); answers how many went. */
export async function deleteRedisPrefix(url: string, prefix: string): Promise<number> {
  const client = await connect(url);
  try {
    let deleted = 0;
    for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 500 })) {
      if (keys.length > 0) deleted += await client.del(keys);
    }
    return deleted;
  } finally {
    client.destroy();
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
