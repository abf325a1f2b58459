// Signed-out dashboard sessions (routes/dashboard/session.ts): a revocation record per session id,
// expiring by itself once the cookie it revokes could no longer be presented.
import type { KeyValueStore } from './kv.js';
import { key } from './keys.js';

export type SessionRepository = ReturnType<typeof createSessionRepository>;

export function createSessionRepository(store: KeyValueStore) {
  return {
    async isRevoked(id: string): Promise<boolean> {
      return (await store.get(key.revokedSession(id))) !== undefined;
    },
    async revoke(id: string, revokedAt: string, keepMs: number): Promise<void> {
      await store.set(key.revokedSession(id), { revokedAt }, keepMs);
    },
  };
}
