// Sources and their cached entries, one aggregate: the records, the indexes that list them (per
// user, per connection, every source, the due index, the duplicate-URL index) and the entries with
// the revision a rebuild compares. Secrets inside the records are sealed before they get here.
import { hash, randomBytes } from 'node:crypto';
import type { CachedEntry, SourceRecord } from '../model.js';
import type { KeyValueStore } from './kv.js';
import { newestFirst } from '../model/entry-helpers.js';
import { keyvValueOf } from './keyv-records.js';
import { getMany, getOwned, key, set } from './keys.js';
import { createLeases, lease, type LeaseOutcome, type LeaseWait } from './leases.js';

export type SourceRepository = ReturnType<typeof createSourceRepository>;

/** A source's cached entries as read, with each one's JSON text as stored (by entry id). */
export interface StoredEntries {
  entries: CachedEntry[];
  textById: ReadonlyMap<string, string>;
  /** Their revision, read with them (getEntryRevisions' form: null while a write is pending). */
  revision: string | null;
}

/** A page of `sourcePages`: the records still there of the `listed` ids it covered. */
export interface SourcePage {
  sources: SourceRecord[];
  listed: number;
}

/**
 * The key a store holds an entry under: its id, unless the id has a control character or a UTF-16
 * surrogate — an id taken as it is from a JSON Feed may hold a lone one, which no store's JSON
 * matching reads back as written (SQLite's json_each, Redis's cjson) — then a digest of the id's
 * JSON (lossless where a lone surrogate is concerned), after a control character that an id kept
 * as it is never holds.
 */
export function entryKeyOf(id: string): string {
  for (let index = 0; index < id.length; index++) {
    const code = id.charCodeAt(index);
    if (code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) return `\u001f${hash('sha256', JSON.stringify(id), 'base64url')}`;
  }
  return id;
}

function newRevision(): string {
  return randomBytes(6).toString('base64url');
}
const PENDING_REVISION = ':pending';
const INITIAL_REVISION = 'initial';
/** A stored revision as getEntryRevisions answers it. */
function revisionOf(stored: string | undefined): string | null {
  return stored === undefined ? INITIAL_REVISION : stored.endsWith(PENDING_REVISION) ? null : stored;
}

/**
 * A source record's lone UTF-16 surrogates (a hostile feed's title) made U+FFFD, in place, so what the
 * caller holds is what is stored. JSON.stringify writes them as `\udXXX` escapes, which Redis's cjson
 * refuses (the due index's script found no record and unscheduled the source) and SQLite's
 * json_extract answers otherwise than the bound text (every refresh's compare-and-set refused).
 */
function wellFormed<T extends object>(record: T): T {
  const fields = record as Record<string, unknown>;
  for (const field in fields) {
    const value = fields[field];
    if (typeof value === 'string' && !value.isWellFormed()) fields[field] = value.toWellFormed();
  }
  return record;
}

export function createSourceRepository(store: KeyValueStore) {
  const leases = createLeases(store);
  async function syncDue(ids: string[]): Promise<void> {
    await store.syncDue(ids.map((id) => ({ id, recordKey: key.source(id) })));
  }
  /** After this process's own write of source records: nothing to do where the write derived it. */
  async function syncDueAfterWrite(ids: string[]): Promise<void> {
    if (!store.derivedOnWrite) await syncDue(ids);
  }

  /** Each source's entries, newest first (the order a refresh keeps them in), with their stored texts. */
  async function readStoredEntries(sourceIds: string[]): Promise<StoredEntries[]> {
    return (await store.readEntries(sourceIds)).map(({ texts, list, revision: revisionText }) => {
      const textById = new Map<string, string>();
      const entries = texts.map((text) => {
        const entry = JSON.parse(text) as CachedEntry;
        textById.set(entry.id, text);
        return entry;
      });
      const revision = revisionOf(revisionText === undefined ? undefined : keyvValueOf<string>(revisionText));
      // Written by an earlier release as one list: read as it is, and replaced by records when next written.
      if (list !== undefined && entries.length === 0) return { entries: keyvValueOf<CachedEntry[]>(list) ?? [], textById, revision };
      return { entries: newestFirst(entries), textById, revision };
    });
  }

  return {
    /** A new source: the record, then the indexes that list it. */
    async addSource(source: SourceRecord): Promise<void> {
      await store.set(key.source(source.id), wellFormed(source));
      await store.addMember(set.userSources(source.userId), source.id);
      await store.addMember(set.allSources, source.id);
      if (source.connectionId) await store.addMember(set.connectionSources(source.connectionId), source.id);
      await syncDueAfterWrite([source.id]);
      if (source.cachedBytes) await store.addToField(key.userCounts(source.userId), 'cachedBytes', source.cachedBytes);
    },
    /**
     * A new source with its first entries, in one atomic write (store.writeEntries `with`): the
     * entries and their revision, the record, the sets that list it, the user's cachedBytes and the
     * duplicate-URL index, and its due-index entry (SQLite's triggers; on Redis the sync script in the
     * same MULTI). A create that fails leaves none of them, so nothing is listed, indexed or
     * unscheduled half-way.
     */
    async createSource(source: SourceRecord, entries: CachedEntry[], texts?: readonly string[]): Promise<void> {
      wellFormed(source);
      const textsOf = texts && texts.length === entries.length ? texts : entries.map((entry) => JSON.stringify(entry));
      const keys = entries.map((entry) => entryKeyOf(entry.id));
      await store.writeEntries(source.id, {
        ids: keys,
        put: keys.map((entryKey, index) => [entryKey, textsOf[index]!]),
        revision: { key: key.entriesRevision(source.id), value: newRevision() },
        with: {
          records: [
            [key.source(source.id), source],
            ...(source.urlDigests ?? []).map((digest): [string, unknown] => [key.sourceUrl(source.userId, digest), source.id]),
          ],
          members: [
            { set: set.userSources(source.userId), member: source.id },
            { set: set.allSources, member: source.id },
            ...(source.connectionId ? [{ set: set.connectionSources(source.connectionId), member: source.id }] : []),
          ],
          increments: source.cachedBytes ? [{ key: key.userCounts(source.userId), field: 'cachedBytes', by: source.cachedBytes }] : [],
          dueOf: [{ id: source.id, recordKey: key.source(source.id) }],
        },
      });
    },
    /**
     * An update of a listed source: the record, then its due-index entry derived from what is stored
     * (a refresh finishing after a delete lists nothing again, and indexes nothing: the record is gone).
     */
    async saveSource(source: SourceRecord): Promise<void> {
      await store.set(key.source(source.id), wellFormed(source));
      await syncDueAfterWrite([source.id]);
    },
    /**
     * A refresh's result, written in one atomic step over the record it was fetched from: only while
     * that record is still listed and still has the URL, title and interval the refresh saw (the
     * fields an edit changes and a result must not undo). False when nothing was written: the
     * caller reads the record and merges (services' edits and deletes win).
     */
    async saveRefreshedSource(result: SourceRecord, fetchedFrom: SourceRecord): Promise<boolean> {
      // The fields matched as they were stored (made well-formed), from a record read or one of the caller's.
      const expected = wellFormed({
        urlSealed: fetchedFrom.urlSealed,
        title: fetchedFrom.title,
        refreshMinutes: fetchedFrom.refreshMinutes,
      });
      const written = store.setIfMatches(key.source(result.id), wellFormed(result), {
        fields: expected,
        listed: { set: set.allSources, member: result.id },
      });
      // Issued right behind the write on the same connection, so it runs after it (one round trip).
      const [saved] = await Promise.all([written, store.derivedOnWrite ? undefined : syncDue([result.id])]);
      return saved;
    },
    /**
     * A write over the record `read`, in one compare-and-set: only while the stored record is still
     * that one (listed, and its last update, last fetch and sealed URL unchanged — a key rotation
     * reseals without an update time), so a refresh or another edit written meanwhile is not put
     * back. False when nothing was written: the caller applies its change to the record as it is now.
     */
    async saveEditedSource(edited: SourceRecord, read: SourceRecord): Promise<boolean> {
      const written = await store.setIfMatches(key.source(edited.id), wellFormed(edited), {
        fields: { updatedAt: read.updatedAt, lastFetchedAt: read.lastFetchedAt, urlSealed: read.urlSealed },
        listed: { set: set.allSources, member: edited.id },
      });
      if (written) await syncDueAfterWrite([edited.id]);
      return written;
    },
    /**
     * Runs `work` holding the source's refresh lease (leases.ts withLease), handing it the record
     * read under the lease in the same round trip that took it: undefined when the source is gone.
     */
    async withRefreshLease<T>(
      sourceId: string,
      owner: string,
      wait: LeaseWait,
      work: (source: SourceRecord | undefined) => Promise<T>,
    ): Promise<LeaseOutcome<T>> {
      return leases.withLeaseReading<SourceRecord, T>(lease.refresh(sourceId), owner, wait, key.source(sourceId), work);
    },
    /** False once a delete has begun: it unlists the source first and removes the record last. */
    async isSourceListed(id: string): Promise<boolean> {
      return store.hasMember(set.allSources, id);
    },
    async getSource(id: string): Promise<SourceRecord | undefined> {
      return store.get<SourceRecord>(key.source(id));
    },
    async getOwnedSource(userId: string, id: string): Promise<SourceRecord | undefined> {
      return getOwned<SourceRecord>(store, key.source(id), userId);
    },
    async listSources(userId: string): Promise<SourceRecord[]> {
      return getMany<SourceRecord>(store, await store.members(set.userSources(userId)), key.source);
    },
    // Due index (store/due-index.ts) --------------------------------------------------------------
    /** Takes up to `limit` due sources, most overdue first, away from every other scheduler for `leaseMs`. */
    async claimDueSources(now: Date, limit: number, leaseMs: number): Promise<string[]> {
      return store.claimDue(now, limit, leaseMs);
    },
    /** Re-derives the sources' due times from their records (a claim that did not end in a write). */
    syncDueIndex: syncDue,
    /** Sources failing since a time in (after, until]. */
    async sourcesFailingBetween(after: Date | undefined, until: Date): Promise<string[]> {
      return store.failingBetween(after, until);
    },
    async countSourcesByStatus(): Promise<Record<string, number>> {
      return store.countByStatus();
    },
    /**
     * Builds the due index once for a store written before it existed: every listed source, in
     * pages, then a marker. Idempotent (a sync only re-derives), so two instances starting together
     * at worst both build it. Answers how many sources it indexed (0 when already built).
     */
    async ensureDueIndex(pageSize = 500): Promise<number> {
      if (await store.get(key.dueIndexBuilt)) return 0;
      const ids = await store.members(set.allSources);
      for (let start = 0; start < ids.length; start += pageSize) await syncDue(ids.slice(start, start + pageSize));
      await store.set(key.dueIndexBuilt, { version: 1 });
      return ids.length;
    },
    /** Every source at once: benchmarks and tests only (the service pages through them: sourcePages). */
    async listAllSources(): Promise<SourceRecord[]> {
      return getMany<SourceRecord>(store, await store.members(set.allSources), key.source);
    },
    /**
     * Every source, `pageSize` records at a time, for the whole-registry operations (`refresh --all`,
     * key rotation): the ids are listed once (a few MB at 100,000), the records read page by page, so
     * memory holds one page of records, not the registry. A source deleted meanwhile is left out
     * (the page's `listed` counts it, its `sources` do not); one added meanwhile is not seen. `total`
     * is the number of ids listed.
     */
    async sourcePages(pageSize = 500): Promise<{ total: number; pages: AsyncIterable<SourcePage> }> {
      const ids = await store.members(set.allSources);
      async function* pages(): AsyncIterable<SourcePage> {
        for (let start = 0; start < ids.length; start += pageSize) {
          const listed = ids.slice(start, start + pageSize);
          yield { sources: await getMany<SourceRecord>(store, listed, key.source), listed: listed.length };
        }
      }
      return { total: ids.length, pages: pages() };
    },
    async listSourcesOfConnection(connectionId: string): Promise<SourceRecord[]> {
      return getMany<SourceRecord>(store, await store.members(set.connectionSources(connectionId)), key.source);
    },
    async findSourceIdByUrlDigest(userId: string, digest: string): Promise<string | undefined> {
      return store.get<string>(key.sourceUrl(userId, digest));
    },
    async indexSourceUrls(userId: string, sourceId: string, digests: string[]): Promise<void> {
      for (const digest of digests) await store.set(key.sourceUrl(userId, digest), sourceId);
    },
    /** Drops the digests that still name `sourceId` (another source may have taken one since). */
    async unindexSourceUrls(userId: string, sourceId: string, digests: string[]): Promise<void> {
      for (const digest of digests) {
        if ((await store.get<string>(key.sourceUrl(userId, digest))) === sourceId) await store.delete(key.sourceUrl(userId, digest));
      }
    },
    async deleteSource(source: SourceRecord): Promise<void> {
      await store.removeMember(set.allSources, source.id);
      // Counted once, by whichever delete unlisted it (deletes are repeated to undo racing writes).
      if (await store.removeMember(set.userSources(source.userId), source.id)) {
        await store.addToField(key.userCounts(source.userId), 'sources', -1);
        if (source.cachedBytes) await store.addToField(key.userCounts(source.userId), 'cachedBytes', -source.cachedBytes);
      }
      if (source.connectionId) await store.removeMember(set.connectionSources(source.connectionId), source.id);
      await store.deleteEntries(source.id);
      await store.delete(key.entriesRevision(source.id));
      await store.delete(key.source(source.id));
      // After the record: any sync racing the delete ran before this one, which finds no record.
      await syncDue([source.id]);
    },
    async getEntries(sourceId: string): Promise<CachedEntry[]> {
      return (await readStoredEntries([sourceId]))[0]!.entries;
    },
    /** getEntries, with each entry's text as stored: saveEntries given them writes only what changed. */
    async getStoredEntries(sourceId: string): Promise<StoredEntries> {
      return (await readStoredEntries([sourceId]))[0]!;
    },
    async getEntriesOf(sourceIds: string[]): Promise<Map<string, CachedEntry[]>> {
      const stored = await readStoredEntries(sourceIds);
      return new Map(sourceIds.map((id, index) => [id, stored[index]!.entries]));
    },
    /** In the order asked, undefined where a source no longer exists. */
    async getSources(ids: string[]): Promise<Array<SourceRecord | undefined>> {
      return store.getMany<SourceRecord>(ids.map(key.source));
    },
    /**
     * The entries and their new revision in one atomic write: a rebuild that reads the revision before
     * the entries (publish/merge-state.ts) never records a revision with entries older than it. (Stores
     * written by releases that wrote them in three steps may hold a pending revision: read as null.)
     * `texts`, when given, are the entries' own JSON texts (`JSON.stringify(entries[i])`), which a
     * refresh has measured already. With `stored` (getStoredEntries' answer, read before), only the
     * entries whose text differs from the stored one are written; the others stay as they are. With
     * `markRebuildPending`, the source is marked as markRebuildPending does, in the same atomic step.
     * Answers the revision written.
     */
    async saveEntries(
      sourceId: string,
      entries: CachedEntry[],
      texts?: readonly string[],
      stored?: StoredEntries,
      { markRebuildPending = false } = {},
    ): Promise<string> {
      const textsOf = texts && texts.length === entries.length ? texts : entries.map((entry) => JSON.stringify(entry));
      const keys = entries.map((entry) => entryKeyOf(entry.id));
      const put: Array<[string, string]> = [];
      entries.forEach((entry, index) => {
        if (stored?.textById.get(entry.id) !== textsOf[index]) put.push([keys[index]!, textsOf[index]!]);
      });
      const revision = newRevision();
      await store.writeEntries(sourceId, {
        ids: keys,
        put,
        revision: { key: key.entriesRevision(sourceId), value: revision },
        ...(markRebuildPending ? { addMember: { set: set.pendingRebuilds, member: sourceId } } : {}),
      });
      return revision;
    },
    /**
     * Each source's entries revision: null while a write is pending (or was cut short), so the
     * caller reads the entries again; `initial` for entries never written since revisions exist.
     */
    async getEntryRevisions(sourceIds: string[]): Promise<Array<string | null>> {
      return (await store.getMany<string>(sourceIds.map(key.entriesRevision))).map(revisionOf);
    },
    /** Feeds that include a source: rebuilt when its entries or status change. */
    async feedIdsOfSource(sourceId: string): Promise<string[]> {
      return store.members(set.sourceFeeds(sourceId));
    },
    /** feedIdsOfSource for many sources in one round trip, in the order asked. */
    async feedIdsOfSources(sourceIds: string[]): Promise<string[][]> {
      return store.membersOfMany(sourceIds.map(set.sourceFeeds));
    },
    /** The source's feeds are owed a rebuild (set.pendingRebuilds): marked before the refresh writes. */
    async markRebuildPending(sourceId: string): Promise<void> {
      await store.addMember(set.pendingRebuilds, sourceId);
    },
    async unmarkRebuildPending(sourceIds: string[]): Promise<void> {
      await store.removeMembers(set.pendingRebuilds, sourceIds);
    },
    pendingRebuildSourceIds(): Promise<string[]> {
      return store.members(set.pendingRebuilds);
    },
  };
}
