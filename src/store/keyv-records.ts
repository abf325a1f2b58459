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

/**
 * The JSON merge patch (RFC 7396) that turns keyv's row text of `from` into exactly
 * `keyvTextOf(to)` under SQLite's json_patch, which keeps the target's members in place and appends
 * new ones in the patch's order: so only when `to` lists `from`'s kept fields first, in their order
 * (a spread of it), and every value it changes is one a patch sets as it is (no null, which a patch
 * reads as "remove", and no object, which it would merge into). Undefined when there is no such patch.
 */
export function mergePatchOf(from: Record<string, unknown>, to: Record<string, unknown>): { value: Record<string, unknown> } | undefined {
  const patch: Record<string, unknown> = {};
  const fromKeys = Object.keys(from);
  const toKeys = Object.keys(to);
  let at = 0;
  for (const field of fromKeys) {
    if (to[field] === undefined) {
      patch[field] = null;
      continue;
    }
    while (at < toKeys.length && to[toKeys[at]!] === undefined) at++;
    if (toKeys[at] !== field) return undefined;
    at++;
  }
  for (const field of toKeys) {
    const value = to[field];
    if (value === undefined || (Object.hasOwn(from, field) && from[field] === value)) continue;
    if (value === null || (typeof value === 'object' && !Array.isArray(value))) return undefined;
    if (typeof value === 'number' && !Number.isFinite(value)) return undefined;
    if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return undefined;
    patch[field] = value;
  }
  return { value: patch };
}
