// What a successful fetch does to a source's cached entries. Pure: the clock is passed in.
import type { CachedEntry, Entry } from '../model.js';
import { canonicalLink } from '../model.js';
import { compareText, newestFirst } from '../model/entry-helpers.js';

export interface CacheUpdate {
  entries: CachedEntry[];
  /** True when anything a reader could see changed (new, updated or expired entries): rebuild feeds. */
  changed: boolean;
  /** True when the list must be saved (`changed`, or an entry left or came back to the document). */
  dirty: boolean;
  added: number;
  updated: number;
  /** Bytes of `entries` as stored (UTF-8 JSON, each entry on its own): what the source costs the store. */
  bytes: number;
  /** Each entry's JSON text, in the order of `entries`: measured for `bytes`, and what the store writes. */
  texts: string[];
}

export interface RetentionPolicy {
  /** Entries no longer in the upstream document are kept this long after they were last seen. */
  retentionMs: number;
  /** And at most this many entries in all, newest first. */
  maxEntries: number;
  /**
   * And at most this many bytes of them (each entry's JSON), newest first; an entry that does not fit
   * in what is left is skipped, so one huge entry cannot push out every other (issue 18: 3).
   */
  maxBytes?: number;
}

/** The cached entries' JSON texts as stored, by id (store/sources.ts StoredEntries), to reuse rather than make again. */
export type StoredTexts = ReadonlyMap<string, string>;

/**
 * New entries are detected by id; an entry whose content or dates changed replaces the cached copy
 * (keeping its first-seen time); entries that fell out of the document stay for the retention
 * period so merged feeds keep their history.
 */
export function updateCachedEntries(
  cached: CachedEntry[],
  fetched: Entry[],
  sourceId: string,
  now: Date,
  policy: RetentionPolicy,
  storedTexts?: StoredTexts,
): CacheUpdate {
  const nowIso = now.toISOString();
  const previous = new Map(cached.map((entry) => [entry.id, entry]));
  const seen = new Set<string>();
  const next: CachedEntry[] = [];
  let added = 0;
  let updated = 0;
  // Bookkeeping that must reach the store even when no reader sees a difference.
  let marked = 0;

  const texts = new Map<CachedEntry, { text: string; size: number }>();
  const textOf = (entry: CachedEntry) => {
    let measured = texts.get(entry);
    if (measured === undefined) {
      // A cached entry kept as it is has the text it was stored with.
      const stored = previous.get(entry.id) === entry ? storedTexts?.get(entry.id) : undefined;
      const text = stored ?? JSON.stringify(entry);
      texts.set(entry, (measured = { text, size: Buffer.byteLength(text) }));
    }
    return measured;
  };
  const sizeOf = (entry: CachedEntry) => textOf(entry).size;
  const candidates = newestOfDocument(fetched, previous, policy.maxEntries).map((entry) => {
    const cachedCopy = previous.get(entry.id);
    // The same upstream item (parseFeed reused the cached entry for it): the cached copy as it is.
    if (cachedCopy && sameItem(cachedCopy, entry)) {
      if (cachedCopy.goneSince === undefined) return cachedCopy;
      const { goneSince: _gone, ...again } = cachedCopy;
      return again;
    }
    const candidate: CachedEntry = { ...entry, sourceId, firstSeenAt: cachedCopy?.firstSeenAt ?? nowIso };
    const link = entry.link === undefined ? undefined : canonicalLink(entry.link);
    if (link !== undefined) candidate.canonicalLink = link;
    return candidate;
  });
  // The byte cap is applied to the document first too, measured on the same objects as the final cut:
  // an entry that never fits is never counted as new, so it does not churn the cache on every refresh.
  for (const candidate of policy.maxBytes === undefined
    ? candidates
    : withinBytes(newestFirst(candidates), policy.maxEntries, policy.maxBytes, sizeOf)) {
    seen.add(candidate.id);
    const old = previous.get(candidate.id);
    if (!old) added += 1;
    else if (sameItem(old, candidate)) {
      if (old.goneSince !== undefined) marked += 1; // it came back
    } else if (contentKey(old) !== contentKey(candidate)) updated += 1;
    else if (old.goneSince !== undefined)
      marked += 1; // it came back
    else if (old.fingerprint !== candidate.fingerprint) marked += 1; // same entry from a changed item: keep its new fingerprint
    next.push(candidate);
  }

  let expired = 0;
  for (const old of cached) {
    if (seen.has(old.id)) continue;
    // Retention counts from when the entry left the document, recorded the first time it is missing.
    if (old.goneSince === undefined) {
      next.push({ ...old, goneSince: nowIso });
      marked += 1;
    } else if (now.getTime() - Date.parse(old.goneSince) <= policy.retentionMs) next.push(old);
    else expired += 1;
  }

  const kept = withinBytes(newestFirst(next), policy.maxEntries, policy.maxBytes ?? Infinity, sizeOf);
  expired += next.length - kept.length;
  const bytes = kept.reduce((total, entry) => total + sizeOf(entry), 0);
  return {
    entries: kept,
    changed: added + updated + expired > 0,
    dirty: added + updated + expired + marked > 0,
    added,
    updated,
    bytes,
    texts: kept.map((entry) => textOf(entry).text),
  };
}

/** The first `max` entries of the list whose sizes add up to at most `maxBytes`, skipping those that do not fit. */
function withinBytes(entries: CachedEntry[], max: number, maxBytes: number, sizeOf: (entry: CachedEntry) => number): CachedEntry[] {
  const kept: CachedEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (kept.length >= max) break;
    const size = sizeOf(entry);
    if (bytes + size > maxBytes) continue;
    kept.push(entry);
    bytes += size;
  }
  return kept;
}

/**
 * The document's entries (the first copy of a repeated id), cut to the `max` newest when it holds
 * more: by their dates, else when first seen, else in document order. Cutting before the merge keeps
 * the cut the same from one refresh to the next; entries the cap dropped last time would otherwise
 * come back as new each time, undated ones first, and churn the cache and every feed of the source.
 */
function newestOfDocument(fetched: Entry[], previous: ReadonlyMap<string, CachedEntry>, max: number): Entry[] {
  const firstCopies = new Map<string, Entry>();
  for (const entry of fetched) if (!firstCopies.has(entry.id)) firstCopies.set(entry.id, entry);
  const distinct = [...firstCopies.values()];
  if (distinct.length <= max) return distinct;
  const dateOfFetched = (entry: Entry) => entry.updated ?? entry.published ?? previous.get(entry.id)?.firstSeenAt ?? '';
  // Array.prototype.sort is stable: undated entries keep their document order, after the dated ones.
  return [...distinct].sort((a, b) => compareText(dateOfFetched(b), dateOfFetched(a))).slice(0, max);
}

/**
 * Whether the entry was made from the same upstream item as the cached copy: the fingerprint covers
 * the item, its base, the source and the normaliser's version, so what a reader sees is the same.
 */
function sameItem(cached: CachedEntry | undefined, entry: Entry): boolean {
  return cached !== undefined && cached.fingerprint !== undefined && cached.fingerprint === entry.fingerprint;
}

/** Everything a reader sees of an entry; bookkeeping is left out. */
function contentKey(entry: CachedEntry): string {
  const { firstSeenAt: _first, goneSince: _gone, canonicalLink: _canonical, fingerprint: _fingerprint, ...visible } = entry;
  return JSON.stringify(visible);
}
