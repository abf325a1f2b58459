// cache → one list of entries: merge the sources, dedupe, filter, sort newest first, limit.
// Pure and deterministic: the same cached entries give the same list in the same order, so the
// rendered bytes (and their ETag) only change when the content does.
import type { CachedEntry, Entry } from '../model.js';
import { canonicalLink, entryDate } from '../model/entry-helpers.js';
import { compileFilterSteps } from './filter.js';

// The entry helpers live in the model (model/entry-helpers.ts); re-exported for the callers of merge.
export { canonicalLink, entryDate, parseDate } from '../model/entry-helpers.js';

export interface MergeInput {
  sources: Array<{
    sourceId: string;
    sourceTitle?: string;
    entries: CachedEntry[];
    /**
     * Links several of the source's entries share (dedupeByLink), when `entries` are not all of them:
     * a remerge's unchanged sources come from the snapshot's universe, their shared links with them.
     */
    sharedLinks?: readonly string[];
  }>;
  include?: string[];
  exclude?: string[];
  limit: number;
  /** Entries dated before this are left out (a feed's maximum age), before the limit counts. */
  notBefore?: Date;
}

/**
 * A merge as steps: the generator yields after each source deduped and after each rule tried on an entry,
 * and returns the merged list. Still pure; a caller that must keep serving meanwhile (the publish
 * layer, on a web process) drives it in time slices, other callers run it through (runSteps).
 * Filters are the costly part (every rule over every entry's text), and a large feed with many
 * rules would otherwise hold the event loop for seconds (issue 18: 3).
 */
export function* mergeEntriesSteps(input: MergeInput): Generator<void, CachedEntry[], void> {
  return (yield* mergeSteps(input)).entries;
}

/** mergeEntriesSteps, with each source's shared links as worked out (for the snapshot). */
function* mergeSteps(input: MergeInput): Generator<void, { entries: CachedEntry[]; sharedLinks: Record<string, string[]> }, void> {
  const keep = compileFilterSteps({ include: input.include, exclude: input.exclude });
  const deduped: CachedEntry[][] = [];
  const sharedLinks: Record<string, string[]> = {};
  const sharedKeys = new Set<string>();
  for (const source of input.sources) {
    const entries = dedupeById(source.entries, source.sourceId);
    deduped.push(entries);
    const shared = source.sharedLinks ?? sharedLinksOf(entries);
    if (shared.length > 0) sharedLinks[source.sourceId] = [...shared];
    for (const link of shared) sharedKeys.add(sourceLinkKey(source.sourceId, link));
    yield;
  }
  const unique = dedupeByLink(deduped.flat(), sharedKeys);
  yield;
  const notBefore = input.notBefore?.getTime();
  const recent = notBefore === undefined ? unique : unique.filter((entry) => timeOf(entry) >= notBefore);
  // Sorted before filtering (the filter looks at one entry at a time, so the result is the same):
  // filtering stops as soon as the limit is filled, and most merges never look at older entries.
  recent.sort(compareNewestFirst);
  yield;
  const limit = limitOf(input);
  const kept: CachedEntry[] = [];
  for (const entry of recent) {
    if (kept.length >= limit) break;
    if (yield* keep(entry)) kept.push(entry);
    yield;
  }
  return { entries: kept, sharedLinks };
}

export function mergeEntries(input: MergeInput): CachedEntry[] {
  return runSteps(mergeEntriesSteps(input));
}

/** Runs a generator of steps through to its result, without yielding to anything. */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * A merge's result and what redoing it needs later: the cut (the last entry published, when the
 * limit was reached) and the universe — every cached entry of every source that ranks at or above
 * the cut, before dedupe and filters (all entries when the limit was not reached).
 *
 * Why the universe is enough: an entry's fate in a merge — dropped as an older copy of its id or of
 * its link, filtered, published — depends only on the entry itself and on the entries that rank
 * above it (a copy wins by ranking first). So for entries above the cut a merge of the universe
 * decides exactly what a merge of everything decides, and entries below it cannot be published
 * while the limit is still filled above it.
 */
export interface MergeSnapshot {
  entries: CachedEntry[];
  universe: CachedEntry[];
  cut?: CachedEntry;
  /** Each source's links that several of its entries share, worked out from all its entries (dedupeByLink). */
  sharedLinks: Record<string, string[]>;
}

export function mergeWithSnapshot(input: MergeInput): MergeSnapshot {
  return runSteps(mergeWithSnapshotSteps(input));
}

export function* mergeWithSnapshotSteps(input: MergeInput): Generator<void, MergeSnapshot, void> {
  const { entries, sharedLinks } = yield* mergeSteps(input);
  return snapshotOf(entries, sharedLinks, input.sources, limitOf(input));
}

/**
 * Redoes a merge after the sources in `changed` changed: `input` lists every source of the feed,
 * the changed ones with all their entries; the others' entries come from the snapshot's universe.
 * Undefined when the result cannot be shown to equal a merge of everything — the changed sources
 * lost entries the limit needed, so an entry below the old cut may now belong: merge everything then.
 */
export function remergeEntries(
  snapshot: Pick<MergeSnapshot, 'universe' | 'cut' | 'sharedLinks'>,
  input: MergeInput,
  changed: ReadonlySet<string>,
): MergeSnapshot | undefined {
  return runSteps(remergeEntriesSteps(snapshot, input, changed));
}

export function* remergeEntriesSteps(
  snapshot: Pick<MergeSnapshot, 'universe' | 'cut' | 'sharedLinks'>,
  input: MergeInput,
  changed: ReadonlySet<string>,
): Generator<void, MergeSnapshot | undefined, void> {
  const kept = new Map<string, CachedEntry[]>();
  for (const entry of snapshot.universe) {
    if (changed.has(entry.sourceId)) continue;
    const list = kept.get(entry.sourceId);
    if (list) list.push(entry);
    else kept.set(entry.sourceId, [entry]);
  }
  const sources = input.sources.map((source) =>
    changed.has(source.sourceId)
      ? source
      : { ...source, entries: kept.get(source.sourceId) ?? [], sharedLinks: snapshot.sharedLinks[source.sourceId] ?? [] },
  );
  const { entries, sharedLinks } = yield* mergeSteps({ ...input, sources });
  const limit = limitOf(input);
  if (snapshot.cut) {
    const last = entries.at(-1);
    if (entries.length < limit || last === undefined || compareNewestFirst(last, snapshot.cut) > 0) return undefined;
  }
  return snapshotOf(entries, sharedLinks, sources, limit);
}

function snapshotOf(
  entries: CachedEntry[],
  sharedLinks: Record<string, string[]>,
  sources: MergeInput['sources'],
  limit: number,
): MergeSnapshot {
  const cut = limit > 0 && entries.length === limit ? entries.at(-1) : undefined;
  const universe: CachedEntry[] = [];
  for (const source of sources) {
    for (const entry of source.entries) {
      const owned = entry.sourceId === source.sourceId ? entry : { ...entry, sourceId: source.sourceId };
      if (cut === undefined || compareNewestFirst(owned, cut) <= 0) universe.push(owned);
    }
  }
  return cut ? { entries, universe, cut, sharedLinks } : { entries, universe, sharedLinks };
}

function limitOf(input: Pick<MergeInput, 'limit'>): number {
  return Number.isFinite(input.limit) ? Math.max(0, Math.floor(input.limit)) : 0;
}

/** Within one source an id names one entry; of two copies the more recently updated one wins. */
function dedupeById(entries: CachedEntry[], sourceId: string): CachedEntry[] {
  const byId = new Map<string, CachedEntry>();
  for (const entry of entries) {
    const entryWithSource = entry.sourceId === sourceId ? entry : { ...entry, sourceId };
    const held = byId.get(entry.id);
    if (!held || preferred(entryWithSource, held)) byId.set(entry.id, entryWithSource);
  }
  return [...byId.values()];
}

/**
 * Across sources, entries whose links are the same page are one story: the source holding its most
 * recently updated copy keeps its entry for that link, the others' are dropped. A link that several
 * entries of one source share names no story — some feeds point every entry at their home page, as
 * premium podcast feeds often do — so such entries stay and take no part: two sources pointing all
 * their entries at one home page would otherwise lose one source whole. Which links a source shares
 * is a fact of all its entries, not only those ranking above the cut: a remerge is given it
 * (MergeSnapshot.sharedLinks), so an entry's fate still depends on nothing ranking below it.
 */
function dedupeByLink(entries: CachedEntry[], sharedLinks: ReadonlySet<string>): CachedEntry[] {
  const winners = new Map<string, CachedEntry>();
  const links = new Map<CachedEntry, string>();
  for (const entry of entries) {
    const link = linkOf(entry);
    if (link === undefined || sharedLinks.has(sourceLinkKey(entry.sourceId, link))) continue;
    links.set(entry, link);
    const held = winners.get(link);
    if (!held || preferred(entry, held)) winners.set(link, entry);
  }
  return entries.filter((entry) => {
    const link = links.get(entry);
    return link === undefined || winners.get(link) === entry;
  });
}

/** The links that more than one of a source's entries (one copy of each id) point at. */
function sharedLinksOf(entries: readonly CachedEntry[]): string[] {
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const entry of entries) {
    const link = linkOf(entry);
    if (link === undefined) continue;
    if (seen.has(link)) shared.add(link);
    else seen.add(link);
  }
  return [...shared];
}

function linkOf(entry: CachedEntry): string | undefined {
  return entry.canonicalLink ?? (entry.link === undefined ? undefined : canonicalLink(entry.link));
}

function sourceLinkKey(sourceId: string, link: string): string {
  return `${sourceId}\n${link}`;
}

/** True when `candidate` should replace `held`: newer wins; equal dates fall back to a fixed order. */
function preferred(candidate: CachedEntry, held: CachedEntry): boolean {
  const byDate = timeOf(candidate) - timeOf(held);
  if (byDate !== 0) return byDate > 0;
  return compareIdentity(candidate, held) < 0;
}

function compareNewestFirst(a: CachedEntry, b: CachedEntry): number {
  return timeOf(b) - timeOf(a) || compareIdentity(a, b);
}

/** entryDate in milliseconds, parsed once per entry object rather than once per comparison. */
const times = new WeakMap<CachedEntry, number>();
function timeOf(entry: CachedEntry): number {
  let time = times.get(entry);
  if (time === undefined) times.set(entry, (time = entryDate(entry).getTime()));
  return time;
}

/** A total order on entries that does not depend on the order the sources were listed in. */
function compareIdentity(a: CachedEntry, b: CachedEntry): number {
  return compareStrings(a.id, b.id) || compareStrings(a.sourceId, b.sourceId) || compareStrings(contentKey(a), contentKey(b));
}

/** Last tie-break, for two copies of one id in one source with the same date. */
function contentKey(entry: Entry): string {
  return JSON.stringify([entry.title, entry.link, entry.summary, entry.content]);
}

// Code-unit order, not localeCompare: the result must not depend on the machine's locale.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
