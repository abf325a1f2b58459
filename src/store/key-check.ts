// The one value sealed with the secret key in use (services/key-check.ts seals and checks it).
import type { KeyValueStore } from './kv.js';
import { key } from './keys.js';

export type KeyCheckRecord = ReturnType<typeof createKeyCheckRecord>;

export function createKeyCheckRecord(store: KeyValueStore) {
  return {
    read(): Promise<string | undefined> {
      return store.get<string>(key.keyCheck);
    },
    async write(sealed: string): Promise<void> {
      await store.set(key.keyCheck, sealed);
    },
  };
}
