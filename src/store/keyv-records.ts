// Records are keyv's on every backend: whole JSON values by key, read and written with native JSON.
import type Keyv from 'keyv';
import type { KeyValueStore } from './kv.js';

/**
 * Our records are plain JSON (no Buffers, Dates or Maps), so the native JSON calls do: keyv's
 * default serialiser is a recursive JS walk and its parser a reviver, several times slower on the
 * entry lists and rendered bodies that dominate reads (measured in BENCHMARKS.md, bench 4).
 */
export const NATIVE_JSON = {
  serialize: (data: unknown) => JSON.stringify(data),
  deserialize: (text: string) => JSON.parse(text),
};

/** keyv's row text (`{"value": …}`) of a value, as setMany writes it on every backend. */
export function keyvTextOf(value: unknown): string {
  return JSON.stringify({ value });
}

/** Records are keyv's on every backend: whole JSON values by key. */
export function recordsThrough(keyv: Keyv): Pick<KeyValueStore, 'get' | 'getMany' | 'set' | 'delete'> {
  return {
    async get<T>(key: string) {
      return (await keyv.get<T>(key)) ?? undefined;
    },
    async getMany<T>(keys: string[]) {
      if (keys.length === 0) return [];
      const values = await keyv.get<T>(keys);
      return values.map((value) => value ?? undefined);
    },
    async set(key, value, ttlMs) {
      await keyv.set(key, value, ttlMs);
    },
    async delete(key) {
      await keyv.delete(key);
    },
  };
}

/** A raw keyv value (`{"value": …, "expires"?: ms}`, read past keyv) as keyv.get would answer it. */
export function keyvValueOf<T>(raw: unknown): T | undefined {
  if (typeof raw !== 'string') return undefined;
  const { value, expires } = JSON.parse(raw) as { value?: T; expires?: number | null };
  return typeof expires === 'number' && expires <= Date.now() ? undefined : (value ?? undefined);
}
