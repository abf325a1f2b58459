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

/**
 * A value whose JSON text the caller has already written (setMany only): a refresh's entry list is
 * put together from the entries' texts it measured, instead of stringified whole a second time.
 */
export class JsonText {
  /** The value's JSON text; or, with `elements`, that of the array of those element texts. */
  constructor(
    private readonly json: string,
    private readonly elements?: readonly string[],
  ) {}

  /** A JSON array from its elements' texts, joined only into the row text (rowText). */
  static ofArray(elements: readonly string[]): JsonText {
    return new JsonText('', elements);
  }

  /**
   * keyv's row text (`{"value": …}`) of this value. An array's is made by one join: one flat string.
   * A list past V8's large-object size (128 KiB) pays the page faults of fresh pages for every string
   * made of it (≈ 0.6 ms a string of 135 KB on the bench machine, ≈ 15 µs at 125 KB: BENCHMARKS.md,
   * bench 2, session 10), and the array joined, then wrapped and flattened to be bound, made two.
   */
  rowText(): string {
    if (this.elements === undefined) return `{"value":${this.json}}`;
    if (this.elements.length === 0) return '{"value":[]}';
    const parts = [...this.elements];
    parts[0] = `{"value":[${parts[0]}`;
    parts[parts.length - 1] = `${parts[parts.length - 1]}]}`;
    return parts.join(',');
  }
}

/** keyv's row text (`{"value": …}`) of a value, as setMany writes it on every backend. */
export function keyvTextOf(value: unknown): string {
  return value instanceof JsonText ? value.rowText() : JSON.stringify({ value });
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
