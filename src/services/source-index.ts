// The per-user indexes that keep source and feed creation O(1) in the number the user has:
// duplicate detection by a keyed digest of the normalised URL (never the URL itself: it carries
// the token) and the quota counters. Both are kept by the create and delete paths; a user whose
// records predate them is indexed once, under a lease, the first time they are needed.
import type { Deps } from '../deps.js';
import { ConflictError, withRetryAfter } from '../errors.js';
import type { SourceRecord } from '../model.js';
import { isStoreBusy } from '../store/kv.js';
import { lease } from '../store/leases.js';
import { randomToken } from '../vault/seal.js';

/**
 * A create holds its URLs' claims from the duplicate check until the index names the new source:
 * longer than a probe may take (fetch timeouts, one HTML hop). A holder that dies lets go within
 * the store's lease heartbeat (store/kv.ts withLeaseHeartbeat), not after this.
 */
const URL_CLAIM_TTL_MS = 180_000;
const URL_CLAIM_WAIT_MS = 20;
/**
 * How long a create waits for another request's claim of the same URL. A create holds its claim
 * for one probe of the URL (bounded by the fetch deadline); past this, something is stuck, and two
 * creates each holding the URL the other's resolves to would otherwise wait on each other.
 */
const URL_CLAIM_MAX_WAIT_MS = 30_000;
const URL_CLAIM_WAIT_RETRY_MS = 5_000;
/** A refresh holds a moved URL's claim for two store reads and a write. */
const MOVED_URL_CLAIM_TTL_MS = 10_000;
/** Long enough for a user with tens of thousands of sources to be indexed once. */
const INDEX_LEASE_MS = 120_000;
const INDEX_WAIT_MS = 50;

/**
 * WHATWG URL serialisation: scheme and host lower-cased, default port and dot segments dropped,
 * percent-encoding made uniform. The fragment never reaches the server, so it does not count, and
 * `localhost` is the loopback address it always resolves to here (the fetcher's guard insists).
 */
export function normaliseUrl(raw: string): string | undefined {
  try {
    const url = new URL(raw.trim());
    url.hash = '';
    if (url.hostname === 'localhost') url.hostname = '127.0.0.1';
    return url.href;
  } catch {
    return undefined;
  }
}

/**
 * The index keys of the URLs a source answers to (its input URL and the feed URL it resolved to).
 * A connection's source is that connection's: one URL template signed for two accounts is two feeds.
 */
export function urlDigestsOf(deps: Pick<Deps, 'vault'>, urls: string[], connectionId?: string): string[] {
  const digests = new Set<string>();
  for (const url of urls) {
    const normalised = normaliseUrl(url);
    if (normalised !== undefined) digests.add(deps.vault.digest(connectionId ? `connection ${connectionId} ${normalised}` : normalised));
  }
  return [...digests];
}

/** The user's existing source that answers to one of `urls`, if any (a 409 for the caller). */
export async function findDuplicateSource(
  deps: Pick<Deps, 'registry' | 'vault' | 'config' | 'instanceId'>,
  userId: string,
  urls: string[],
  options: { except?: string; connectionId?: string } = {},
): Promise<string | undefined> {
  const { except, connectionId } = options;
  await ensureUserIndexed(deps, userId);
  for (const digest of urlDigestsOf(deps, urls, connectionId)) {
    const id = await deps.registry.findSourceIdByUrlDigest(userId, digest);
    if (id === undefined || id === except) continue;
    // An index entry outlives a source only while its delete is under way.
    if (await deps.registry.getOwnedSource(userId, id)) return id;
  }
  return undefined;
}

/** The URLs one create holds, so no other create of the same user stores them meanwhile. */
export interface UrlClaim {
  /**
   * Claims `urls` too (waiting while another create holds one), then throws the 409 when the user
   * already has a source for one of them. Claimed in sorted order, so two creates never wait on
   * each other's first claim.
   */
  add(urls: string[]): Promise<void>;
  /** Lets every claim go: after the index names the new source, or when the create failed. */
  release(): Promise<void>;
}

/**
 * Makes "is it a duplicate? then store it" atomic across requests and instances: each URL digest
 * is claimed with the store's set-if-absent lease before the duplicate check, and released only
 * once the created source is indexed. Two concurrent creates of one URL: the second waits for
 * the first, then finds its source (409 naming it), or claims the URL if the first failed.
 * A URL change claims the same way, with `except` naming the source being changed.
 */
export function claimSourceUrls(
  deps: Pick<Deps, 'registry' | 'vault' | 'config' | 'instanceId'>,
  userId: string,
  connectionId?: string,
  except?: string,
): UrlClaim {
  const owner = `${deps.instanceId}:${randomToken(9)}`;
  const held: string[] = [];
  return {
    async add(urls) {
      for (const digest of urlDigestsOf(deps, urls, connectionId).sort()) {
        if (held.includes(digest)) continue;
        if (!(await waitForUrlClaim(deps, lease.sourceUrlClaim(userId, digest), owner, URL_CLAIM_TTL_MS))) {
          throw withRetryAfter(
            new ConflictError('another request of yours is adding this feed right now; retry in a few seconds'),
            URL_CLAIM_WAIT_RETRY_MS,
          );
        }
        held.push(digest);
      }
      const known = await findDuplicateSource(deps, userId, urls, { except, connectionId });
      if (known !== undefined) throw duplicateError(known);
    },
    async release() {
      // Every claim is let go even when one release fails (the store blinked): that one lapses with
      // its TTL, and the caller's own answer (201, 409, or its error) is not replaced by this one.
      // A release the store refused as busy (its lock held by another process) is owed instead: the
      // next claim of that URL in this process lets it go first, so a retry need not wait for the TTL.
      const names = held.splice(0).map((digest) => lease.sourceUrlClaim(userId, digest));
      const released = await Promise.allSettled(names.map((name) => deps.registry.leases.release(name, owner)));
      released.forEach((result, index) => {
        if (result.status === 'rejected' && isStoreBusy(result.reason)) owedClaimReleases(deps.registry).add(names[index]!, owner);
      });
    },
  };
}

/**
 * Takes the URL claim `claim` for `owner`, waiting while another holds it, up to URL_CLAIM_MAX_WAIT_MS
 * (a create holds one for a probe, bounded by the fetch deadline). False when it was held throughout.
 */
async function waitForUrlClaim(deps: Pick<Deps, 'registry'>, claim: string, owner: string, ttlMs: number): Promise<boolean> {
  const deadline = Date.now() + URL_CLAIM_MAX_WAIT_MS;
  while (!(await deps.registry.leases.acquire(claim, owner, ttlMs))) {
    if (await owedClaimReleases(deps.registry).settle(claim, (holder) => deps.registry.leases.release(claim, holder))) continue;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, URL_CLAIM_WAIT_MS));
  }
  return true;
}

export function duplicateError(id: string): Error {
  return Object.assign(
    new ConflictError(`you already have this feed as source ${id}; use that one (GET /api/v1/sources/${id}) or delete it first`),
    { id },
  );
}

export async function indexSource(deps: Pick<Deps, 'registry'>, source: SourceRecord): Promise<void> {
  await deps.registry.indexSourceUrls(source.userId, source.id, source.urlDigests ?? []);
}

/**
 * Indexes the URL a refresh followed a permanent redirect to, as a create would: under the URL's
 * claim (waiting for a create of it in progress, as another create would), and only where the user
 * has no other source for it — that source keeps its entry (a delete of this one would otherwise
 * drop it, and the URL could then be added a third time). False when a claim was still held past
 * the create's own wait: that URL is not indexed, and the caller does not record the redirect yet.
 * A release that fails lapses with its TTL.
 */
export async function indexMovedUrls(
  deps: Pick<Deps, 'registry' | 'instanceId' | 'logger'>,
  source: SourceRecord,
  digests: readonly string[],
): Promise<boolean> {
  const owner = `${deps.instanceId}:${randomToken(9)}`;
  for (const digest of digests) {
    const claim = lease.sourceUrlClaim(source.userId, digest);
    if (!(await waitForUrlClaim(deps, claim, owner, MOVED_URL_CLAIM_TTL_MS))) {
      deps.logger.warn(
        { sourceId: source.id },
        'a moved source keeps its old URL until the next refresh: its new URL was claimed throughout',
      );
      return false;
    }
    try {
      const indexed = await deps.registry.findSourceIdByUrlDigest(source.userId, digest);
      if (indexed === undefined || indexed === source.id || !(await deps.registry.getOwnedSource(source.userId, indexed)))
        await deps.registry.indexSourceUrls(source.userId, source.id, [digest]);
    } finally {
      await deps.registry.leases.release(claim, owner).catch(() => undefined);
    }
  }
  return true;
}

/** Drops a source's index entries; a source from before the index has its stored URL's digest. */
export async function unindexSource(deps: Pick<Deps, 'registry' | 'vault'>, source: SourceRecord): Promise<void> {
  let digests = source.urlDigests;
  if (digests === undefined) {
    try {
      digests = urlDigestsOf(deps, [deps.vault.open(source.urlSealed)], source.connectionId);
    } catch {
      digests = []; // sealed under a key we no longer hold: it was never indexed either
    }
  }
  await deps.registry.unindexSourceUrls(source.userId, source.id, digests);
}

/**
 * URL claims whose release met a busy store, per store (tests run several apps in one process): the
 * claim and the owner that still holds it, until its TTL would have let it go anyway. In memory, as
 * owed slots are: a process that exits while owing one leaves it to lapse with its TTL, as before.
 */
const owedClaimsByStore = new WeakMap<object, Map<string, { owner: string; until: number }>>();

function owedClaimReleases(registry: object) {
  let owed = owedClaimsByStore.get(registry);
  if (!owed) owedClaimsByStore.set(registry, (owed = new Map()));
  return {
    add(claim: string, owner: string) {
      // Claims whose TTL has let them go are no longer owed: dropped here, so a URL never added
      // again does not stay in the map for the life of the process.
      const now = Date.now();
      for (const [name, held] of owed) if (held.until <= now) owed.delete(name);
      owed.set(claim, { owner, until: now + URL_CLAIM_TTL_MS });
    },
    /** Releases `claim` for the owner that owes it; true when it did (the caller tries to take it again). */
    async settle(claim: string, release: (owner: string) => Promise<void>): Promise<boolean> {
      const held = owed.get(claim);
      if (!held) return false;
      if (held.until <= Date.now()) {
        owed.delete(claim);
        return false;
      }
      try {
        await release(held.owner);
      } catch {
        return false; // still busy: owed until a later try, or its TTL
      }
      owed.delete(claim);
      return true;
    },
  };
}

/**
 * Takes one of the user's `kind` slots, atomically across processes: the counter is raised first
 * and lowered again when that went past the limit, so N concurrent creates never exceed it.
 * The caller gives the slot back (`releaseSlot`) when the create then fails.
 */
export async function reserveSlot(
  deps: Pick<Deps, 'registry' | 'vault' | 'config' | 'instanceId'>,
  userId: string,
  kind: 'sources' | 'feeds',
): Promise<void> {
  await ensureUserIndexed(deps, userId);
  const max = kind === 'sources' ? deps.config.limits.maxSourcesPerUser : deps.config.limits.maxFeedsPerUser;
  // Slots this process still owes back are given back in the same write (one atomic step).
  const count = await addWithOwed(deps.registry, userId, kind, 1);
  if (count > max) {
    // Given back as a failed create's is: owed when the store is busy, so the counter never stays high.
    await releaseSlot(deps, userId, kind);
    const noun = kind === 'sources' ? 'source' : 'feed';
    throw new ConflictError(`${noun} limit reached: a user may have at most ${max} ${kind}; delete one first`);
  }
}

/**
 * Gives a reserved slot back. When the store is busy (SQLITE_BUSY: another process holds the write
 * lock, and the statement did not run) the slot is owed instead, and the user's next reservation in
 * this process gives it back; the create's own error stands. Any other failure is thrown, as the
 * write may have run (a Redis connection lost after the command was sent).
 */
export async function releaseSlot(deps: Pick<Deps, 'registry'>, userId: string, kind: 'sources' | 'feeds'): Promise<void> {
  try {
    await deps.registry.addToUserCount(userId, kind, -1);
  } catch (error) {
    if (!isStoreBusy(error)) throw error;
    owedCounts(deps.registry).add(userId, kind, -1);
  }
}

/**
 * Moves the user's cached-bytes counter by a refresh's change to its source's size (`by` 0 settles
 * only what is owed, with no write when nothing is). Refused by a busy store, the change is owed as
 * a slot is and goes with the user's next refresh in this process, and the refresh's result stands.
 * Owed rather than counted again: a count reads every source of the user on a path that is O(1)
 * today, and its write would meet the same busy store.
 */
export async function countCachedBytes(deps: Pick<Deps, 'registry'>, userId: string, by: number): Promise<void> {
  if (by === 0 && !owedCounts(deps.registry).has(userId, 'cachedBytes')) return;
  try {
    await addWithOwed(deps.registry, userId, 'cachedBytes', by);
  } catch (error) {
    if (!isStoreBusy(error)) throw error;
    owedCounts(deps.registry).add(userId, 'cachedBytes', by);
  }
}

/** Sets the user's cached-bytes counter from their sources' records: what this process owed it is in that count. */
export async function recountCachedBytes(deps: Pick<Deps, 'registry'>, userId: string): Promise<number> {
  const owed = owedCounts(deps.registry).take(userId, 'cachedBytes');
  try {
    const total = (await deps.registry.listSources(userId)).reduce((sum, source) => sum + (source.cachedBytes ?? 0), 0);
    await deps.registry.setUserCachedBytes(userId, total);
    return total;
  } catch (error) {
    owedCounts(deps.registry).add(userId, 'cachedBytes', owed);
    throw error;
  }
}

type CountField = 'sources' | 'feeds' | 'cachedBytes';

/** Adds `by` to a counter of the user with what this process owes it, in one atomic write; still owed when that fails. */
async function addWithOwed(registry: Deps['registry'], userId: string, field: CountField, by: number): Promise<number> {
  const owed = owedCounts(registry).take(userId, field);
  try {
    return await registry.addToUserCount(userId, field, by + owed);
  } catch (error) {
    owedCounts(registry).add(userId, field, owed);
    throw error;
  }
}

/**
 * What this process owes the user's counters (a slot given back is -1), per store (tests run several
 * apps in one process) and user. Kept in memory: a process that exits while owing leaves the user's
 * counter off by that much, as before.
 */
const owedByStore = new WeakMap<object, Map<string, number>>();

function owedCounts(registry: object) {
  let owed = owedByStore.get(registry);
  if (!owed) owedByStore.set(registry, (owed = new Map()));
  const keyOf = (userId: string, field: CountField) => `${field}:${userId}`;
  return {
    add(userId: string, field: CountField, by: number) {
      const total = (owed.get(keyOf(userId, field)) ?? 0) + by;
      if (total === 0) owed.delete(keyOf(userId, field));
      else owed.set(keyOf(userId, field), total);
    },
    has(userId: string, field: CountField): boolean {
      return owed.has(keyOf(userId, field));
    },
    /** What is owed, no longer owed: the caller adds it, or adds it back here when it could not. */
    take(userId: string, field: CountField): number {
      const by = owed.get(keyOf(userId, field)) ?? 0;
      owed.delete(keyOf(userId, field));
      return by;
    },
  };
}

/**
 * Counts and indexes a user's records once (records created before the counters and the index
 * existed). One process does it under a lease; the others wait for its marker.
 */
async function ensureUserIndexed(deps: Pick<Deps, 'registry' | 'vault' | 'instanceId'>, userId: string): Promise<void> {
  if (await deps.registry.getUserCounts(userId)) return;
  // One indexing run per user in this process: the lease below is this instance's (its owner is the
  // instance id), so concurrent requests of one process would each count and set the counters, and
  // a late one would overwrite a slot another had already reserved (a quota exceeded by one).
  let runs = indexRuns.get(deps.registry);
  if (!runs) indexRuns.set(deps.registry, (runs = new Map()));
  let run = runs.get(userId);
  if (!run) {
    run = indexUser(deps, userId).finally(() => runs.delete(userId));
    runs.set(userId, run);
  }
  await run;
}

/** The indexing runs in progress, per store (tests run several apps in one process). */
const indexRuns = new WeakMap<object, Map<string, Promise<void>>>();

async function indexUser(deps: Pick<Deps, 'registry' | 'vault' | 'instanceId'>, userId: string): Promise<void> {
  for (;;) {
    if (await deps.registry.acquireUserIndexLease(userId, deps.instanceId, INDEX_LEASE_MS)) break;
    await new Promise((resolve) => setTimeout(resolve, INDEX_WAIT_MS));
    if (await deps.registry.getUserCounts(userId)) return;
  }
  try {
    if (await deps.registry.getUserCounts(userId)) return;
    for (const source of await deps.registry.listSources(userId))
      await indexSource(deps, { ...source, urlDigests: source.urlDigests ?? digestsOfStored(deps, source) });
    await deps.registry.setUserCounts(userId, await deps.registry.countUserIndexes(userId));
  } finally {
    await deps.registry.releaseUserIndexLease(userId, deps.instanceId);
  }
}

function digestsOfStored(deps: Pick<Deps, 'vault'>, source: SourceRecord): string[] {
  try {
    return urlDigestsOf(deps, [deps.vault.open(source.urlSealed)], source.connectionId);
  } catch {
    return [];
  }
}
