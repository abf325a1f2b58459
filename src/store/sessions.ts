// Signed-out dashboard sessions (routes/dashboard/session.ts), one record per API key however many
// sign-outs it makes: the ids of the sessions signed out (each with the time it was issued), at most
// MAX_SIGNED_OUT of them, and a cutoff, `before`: every session of the key issued at or before it is
// refused. A sign-out past MAX_SIGNED_OUT folds the oldest ids into the cutoff. A revocation record per
// sign-out, expiring by itself, grew the store by a row a sign-out: on SQLite keyv deletes an expired
// row only when it is read, so nothing ever did (300 sign-outs, 300 rows).
import type { KeyValueStore } from './kv.js';
import { key } from './keys.js';

/** Signed-out ids kept per API key: more sign-outs than this within a session's lifetime move the cutoff. */
export const MAX_SIGNED_OUT = 32;
/**
 * How long past its lifetime a signed-out id is kept: an instance whose clock runs behind the one that
 * signed it out still takes the session for live until then.
 */
const CLOCK_SLACK_MS = 24 * 60 * 60 * 1000;
/** The cutoff's field; session ids are 24 base64url characters, so none is named this. */
const BEFORE = 'before';

export type SessionRepository = ReturnType<typeof createSessionRepository>;

export function createSessionRepository(store: KeyValueStore) {
  return {
    /** True when the session was signed out: by its id, by the key's cutoff, or by a release before the cutoff existed. */
    async isSignedOut(apiKeyHash: string, id: string, issuedAt: number): Promise<boolean> {
      const [fields, legacy] = await Promise.all([store.readFields(key.signedOutSessions(apiKeyHash)), store.get(key.revokedSession(id))]);
      return fields[id] !== undefined || issuedAt <= Number(fields[BEFORE] ?? -Infinity) || legacy !== undefined;
    },
    /**
     * Signs the session out for good. `lifetimeMs` is how long a session lasts: ids older than that are
     * dropped a day later (their cookies are refused anyway, whatever an instance's clock says), and on
     * Redis the record lapses that long after the last sign-out. The cutoff only ever rises (raiseField), and an id is dropped only once the cutoff
     * as stored covers it, so concurrent sign-outs never let a signed-out session back in.
     */
    async signOut(apiKeyHash: string, id: string, issuedAt: number, now: number, lifetimeMs: number): Promise<void> {
      const record = key.signedOutSessions(apiKeyHash);
      await store.setFields(record, { [id]: String(issuedAt) }, lifetimeMs + CLOCK_SLACK_MS);
      const fields = await store.readFields(record);
      let before = Number(fields[BEFORE] ?? -Infinity);
      const ids = Object.entries(fields)
        .filter(([field]) => field !== BEFORE)
        .map(([field, value]) => ({ id: field, issuedAt: Number(value) }))
        .sort((a, b) => b.issuedAt - a.issuedAt);
      const folded = ids.slice(MAX_SIGNED_OUT).filter((signedOut) => signedOut.issuedAt > before);
      if (folded.length > 0) before = await store.raiseField(record, BEFORE, Math.max(...folded.map((signedOut) => signedOut.issuedAt)));
      const dropped = ids.filter((signedOut) => signedOut.issuedAt <= before || signedOut.issuedAt + lifetimeMs + CLOCK_SLACK_MS < now);
      if (dropped.length > 0)
        await store.deleteFields(
          record,
          dropped.map((signedOut) => signedOut.id),
        );
    },
    /** The key's record, once the key itself no longer opens anything (a reset key). */
    async forget(apiKeyHash: string): Promise<void> {
      await store.deleteFields(key.signedOutSessions(apiKeyHash));
    },
  };
}
