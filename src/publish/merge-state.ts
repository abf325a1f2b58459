// A feed's merge, redone from the sources whose entries changed since its last rebuild. A refresh
// changes one source of a feed that may have hundreds: reading and merging every cached entry again
// costs what the feed holds, this costs what changed (bench 4 in BENCHMARKS.md).
import type { CachedEntry } from '../model.js';
import { newestFirst } from '../model/entry-helpers.js';
import { mergeWithSnapshotSteps, remergeEntriesSteps, type MergeInput, type MergeSnapshot } from '../pipeline/merge.js';
import type { Registry } from '../store/registry.js';
import type { FeedRecord, MergeState, SourceRecord } from '../model.js';

/** Bumped whenever merge.ts decides differently: a state from another version merges from scratch. */
const MERGE_STATE_VERSION = 2;

/**
 * A universe this large is not kept: a feed whose filters leave fewer entries than its limit has
 * every entry in its universe, and storing that costs more than re-reading it saves.
 */
const MAX_UNIVERSE_ENTRIES = 2_000;

export type FeedSelection = Pick<FeedRecord, 'sourceIds' | 'include' | 'exclude' | 'limit' | 'options'>;

export interface MergedSelection {
  entries: CachedEntry[];
  /** How the entries were found: from the changed sources and the kept state, or from every source. */
  merge: 'incremental' | 'full';
}

/** Longest stretch a merge runs before it lets other requests in (issue 18: 3). */
const SLICE_MS = 10;

/**
 * Drives a pure merge's steps, handing the event loop back after every SLICE_MS of work: another
 * user's GET waits at most about one slice for a merge of any size, instead of the whole merge.
 */
export async function runSliced<T>(steps: Generator<void, T, void>, sliceMs = SLICE_MS): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}

/** True when the state holds the source's entries as of this revision (a pending one is never settled). */
function isSettledAt(state: MergeState, sourceId: string, revision: string | null | undefined): boolean {
  const merged = state.revisions[sourceId];
  return revision !== null && revision !== undefined && merged !== null && merged === revision;
}

/**
 * A source's entries as a refresh of this process wrote them, with the revision it wrote them under:
 * what a read of the source answers while its revision is still that one (revisions are random and
 * written in one atomic step with the entries, registry.saveEntries). A batch hands them to its
 * rebuild round, which then reads only the sources written elsewhere or since.
 */
export interface WrittenEntries {
  revision: string;
  /** Each entry's JSON text as stored (store/sources.ts): held as strings, parsed when a rebuild takes them. */
  texts: readonly string[];
}

/**
 * The written lists still at the revision the rebuild read, by source id: their texts, parsed by
 * readEntries only for the sources it would otherwise read.
 */
function stillCurrent(
  written: ReadonlyMap<string, WrittenEntries> | undefined,
  revisions: ReadonlyMap<string, string | null>,
): Map<string, readonly string[]> {
  const current = new Map<string, readonly string[]>();
  for (const [sourceId, { revision, texts }] of written ?? []) {
    if (revisions.get(sourceId) === revision) current.set(sourceId, texts);
  }
  return current;
}

/** Bytes of cached entries read at once (a guess for records older than `cachedBytes`: one source alone). */
const READ_BATCH_BYTES = 1024 * 1024;

/**
 * The cached entries of the sources, read a batch of about READ_BATCH_BYTES at a time: decoding what
 * one read returns holds the event loop, and ten 15 MB sources read at once held it for seconds.
 * Sources in `current` are parsed from its texts instead of read, handing the event loop back after
 * each READ_BATCH_BYTES of them for the same reason, and parsed as a read would answer them.
 */
async function readEntries(
  registry: Registry,
  sources: SourceRecord[],
  current: ReadonlyMap<string, readonly string[]> = new Map(),
): Promise<Map<string, CachedEntry[]>> {
  const entries = new Map<string, CachedEntry[]>();
  let batch: string[] = [];
  let bytes = 0;
  let parsedBytes = 0;
  const read = async () => {
    if (batch.length > 0) for (const [id, list] of await registry.getEntriesOf(batch)) entries.set(id, list);
    batch = [];
    bytes = 0;
  };
  for (const source of sources) {
    const texts = current.get(source.id);
    if (texts) {
      entries.set(source.id, newestFirst(texts.map((text) => JSON.parse(text) as CachedEntry)));
      for (const text of texts) parsedBytes += text.length;
      if (parsedBytes >= READ_BATCH_BYTES) {
        parsedBytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      continue;
    }
    const size = source.cachedBytes ?? READ_BATCH_BYTES;
    if (batch.length > 0 && bytes + size > READ_BATCH_BYTES) await read();
    batch.push(source.id);
    bytes += size;
  }
  await read();
  return entries;
}

/**
 * Merges every cached entry of the sources; nothing is read or kept for later (the API's preview).
 * `current` are sources' entries known to be what a read would answer (stillCurrent), not read again.
 */
export async function mergeAll(
  registry: Registry,
  sources: SourceRecord[],
  input: Omit<MergeInput, 'sources'>,
  current?: ReadonlyMap<string, readonly string[]>,
): Promise<MergeSnapshot> {
  const entriesBySource = await readEntries(registry, sources, current);
  return runSliced(
    mergeWithSnapshotSteps({
      ...input,
      sources: sources.map((source) => ({ sourceId: source.id, entries: entriesBySource.get(source.id) ?? [] })),
    }),
  );
}

/**
 * The feed's merged entries, from the state its last rebuild kept when that state still describes
 * everything but the changed sources, else from every source; keeps the state for the next rebuild.
 * `revisions` were read before any entries (see registry.saveEntries); `written` lists still at those
 * revisions are taken as they are instead of read. Runs under the feed's rebuild lease.
 */
export async function mergeFeed(
  registry: Registry,
  feedId: string,
  selection: FeedSelection,
  sources: SourceRecord[],
  revisions: ReadonlyMap<string, string | null>,
  notBefore: Date | undefined,
  written?: ReadonlyMap<string, WrittenEntries>,
): Promise<MergedSelection> {
  const current = stillCurrent(written, revisions);
  const input = { include: selection.include, exclude: selection.exclude, limit: selection.limit, ...(notBefore ? { notBefore } : {}) };
  const selectionKey = JSON.stringify([
    selection.sourceIds,
    selection.include,
    selection.exclude,
    selection.limit,
    selection.options ?? null,
  ]);
  const state = await registry.getMergeState(feedId);
  let snapshot: MergeSnapshot | undefined;
  let changed: Set<string> | undefined;
  if (state?.version === MERGE_STATE_VERSION && state.selection === selectionKey) {
    changed = new Set(sources.filter((source) => !isSettledAt(state, source.id, revisions.get(source.id))).map((source) => source.id));
    // Past half the sources, reading them all in one go is as cheap and needs no proof of exactness.
    if (changed.size <= sources.length / 2) {
      const fresh = await readEntries(
        registry,
        sources.filter((source) => changed?.has(source.id)),
        current,
      );
      const sourcesInput = sources.map((source) => ({ sourceId: source.id, entries: fresh.get(source.id) ?? [] }));
      snapshot = await runSliced(remergeEntriesSteps(state, { ...input, sources: sourcesInput }, changed));
    }
  }
  const merge = snapshot ? 'incremental' : 'full';
  snapshot ??= await mergeAll(registry, sources, input, current);

  const unchanged = merge === 'incremental' && changed?.size === 0 && snapshot.universe.length === state?.universe.length;
  if (!unchanged) {
    const keep = snapshot.universe.length <= MAX_UNIVERSE_ENTRIES;
    const next: MergeState = {
      version: MERGE_STATE_VERSION,
      selection: selectionKey,
      revisions: Object.fromEntries(sources.map((source) => [source.id, revisions.get(source.id) ?? null])),
      universe: snapshot.universe,
      ...(snapshot.cut ? { cut: snapshot.cut } : {}),
      sharedLinks: snapshot.sharedLinks,
    };
    await registry.saveMergeState(feedId, keep ? next : undefined);
  }
  return { entries: snapshot.entries, merge };
}
