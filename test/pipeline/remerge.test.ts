// remergeEntries must publish exactly what a merge of every entry publishes, or decline. Checked on
// generated feeds made to collide: few dates (ties), links shared across sources, ids repeated
// within a source, filters, a maximum age, and changes that add, edit, drop and empty sources.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { mergeEntries, mergeWithSnapshot, remergeEntries, type MergeInput } from '../../src/pipeline/merge.js';

const SOURCES = ['a', 'b', 'c', 'd', 'e'];

const entryArbitrary = (sourceId: string) =>
  fc
    .record({
      id: fc.constantFrom('1', '2', '3', '4', '5', '6', '7', '8', '9'),
      day: fc.integer({ min: 1, max: 12 }),
      link: fc.option(fc.constantFrom('https://x.test/p1', 'https://x.test/p2', 'https://x.test/p3?utm_source=a', 'https://x.test/p3'), {
        nil: undefined,
      }),
      title: fc.constantFrom('apple pie', 'banana', 'cherry tart', 'apple'),
      dated: fc.constantFrom('updated', 'published', 'firstSeenAt'),
    })
    .map(({ id, day, link, title, dated }): CachedEntry => {
      const date = `2024-01-${String(day).padStart(2, '0')}T00:00:00Z`;
      return {
        id,
        sourceId,
        title,
        authors: [],
        categories: [],
        enclosures: [],
        firstSeenAt: dated === 'firstSeenAt' ? date : '2023-12-01T00:00:00Z',
        ...(dated === 'firstSeenAt' ? {} : { [dated]: date }),
        ...(link ? { link } : {}),
      };
    });

const feedArbitrary = fc.record({
  entries: fc.tuple(...SOURCES.map((sourceId) => fc.array(entryArbitrary(sourceId), { maxLength: 12 }))),
  limit: fc.integer({ min: 0, max: 15 }),
  include: fc.constantFrom([], ['apple'], ['/an/']),
  exclude: fc.constantFrom([], ['tart'], ['banana']),
  notBeforeDay: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
});

/** A change: new entry lists for some sources (shuffled, trimmed, extended) and maybe one source gone. */
const changeArbitrary = fc.record({
  lists: fc.tuple(
    ...SOURCES.map((sourceId) => fc.option(fc.array(entryArbitrary(sourceId), { maxLength: 12 }), { nil: undefined, freq: 2 })),
  ),
  keepPrefix: fc.tuple(...SOURCES.map(() => fc.integer({ min: 0, max: 12 }))),
  removed: fc.option(fc.constantFrom(...SOURCES), { nil: undefined, freq: 4 }),
});

interface FeedShape {
  limit: number;
  include: readonly string[];
  exclude: readonly string[];
  notBeforeDay?: number | undefined;
}

function inputOf(lists: Map<string, CachedEntry[]>, feed: FeedShape): MergeInput {
  return {
    sources: [...lists].map(([sourceId, entries]) => ({ sourceId, entries })),
    limit: feed.limit,
    include: [...feed.include],
    exclude: [...feed.exclude],
    ...(feed.notBeforeDay ? { notBefore: new Date(Date.UTC(2024, 0, feed.notBeforeDay)) } : {}),
  };
}

const keysOf = (entries: CachedEntry[]) => entries.map((entry) => JSON.stringify(entry));

describe('remergeEntries', () => {
  it('publishes what a merge of everything publishes, through a series of changes, or declines', () => {
    let remerged = 0;
    let declined = 0;
    fc.assert(
      fc.property(feedArbitrary, fc.array(changeArbitrary, { minLength: 1, maxLength: 4 }), (feed, changes) => {
        let lists = new Map(SOURCES.map((sourceId, index) => [sourceId, feed.entries[index]!]));
        let snapshot = mergeWithSnapshot(inputOf(lists, feed));
        expect(keysOf(snapshot.entries)).toEqual(keysOf(mergeEntries(inputOf(lists, feed))));
        for (const change of changes) {
          const next = new Map<string, CachedEntry[]>();
          const changed = new Set<string>();
          for (const [index, sourceId] of SOURCES.entries()) {
            if (!lists.has(sourceId) || change.removed === sourceId) continue;
            const fresh = change.lists[index];
            if (fresh === undefined) next.set(sourceId, lists.get(sourceId)!);
            else {
              next.set(sourceId, [...fresh, ...lists.get(sourceId)!.slice(0, change.keepPrefix[index])]);
              changed.add(sourceId);
            }
          }
          lists = next;
          const input = inputOf(lists, feed);
          const expected = mergeEntries(input);
          const incremental = remergeEntries(
            snapshot,
            { ...input, sources: input.sources.map((source) => (changed.has(source.sourceId) ? source : { ...source, entries: [] })) },
            changed,
          );
          if (incremental) {
            remerged += 1;
            expect(keysOf(incremental.entries)).toEqual(keysOf(expected));
            snapshot = incremental;
          } else {
            declined += 1;
            snapshot = mergeWithSnapshot(input);
          }
        }
      }),
      { numRuns: 1_500, seed: 20261129 },
    );
    // Not a vacuous pass: most changes take the incremental path.
    expect(remerged).toBeGreaterThan(declined);
  });

  it('keeps only the entries at or above the cut once the limit is reached', () => {
    const day = (n: number) => `2024-01-${String(n).padStart(2, '0')}T00:00:00Z`;
    const entry = (sourceId: string, id: string, n: number): CachedEntry => ({
      id,
      sourceId,
      updated: day(n),
      authors: [],
      categories: [],
      enclosures: [],
      firstSeenAt: day(1),
    });
    const snapshot = mergeWithSnapshot({
      sources: [
        { sourceId: 'a', entries: [entry('a', '1', 9), entry('a', '2', 5), entry('a', '3', 2)] },
        { sourceId: 'b', entries: [entry('b', '1', 8), entry('b', '2', 3)] },
      ],
      limit: 2,
    });
    expect(snapshot.cut?.id).toBe('1');
    expect(snapshot.cut?.sourceId).toBe('b');
    expect(snapshot.universe.map((e) => `${e.sourceId}/${e.id}`)).toEqual(['a/1', 'b/1']);
  });
});
