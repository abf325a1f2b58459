import { describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { canonicalLink, entryDate, mergeEntries, type MergeInput } from '../../src/pipeline/merge.js';

function entry(sourceId: string, id: string, fields: Partial<CachedEntry> = {}): CachedEntry {
  return { id, sourceId, authors: [], categories: [], enclosures: [], firstSeenAt: '2024-01-01T00:00:00Z', ...fields };
}

const ids = (entries: CachedEntry[]): string[] => entries.map((e) => `${e.sourceId}/${e.id}`);

describe('mergeEntries', () => {
  it('merges every source and sorts newest first by updated, published, then first seen', () => {
    const merged = mergeEntries({
      sources: [
        {
          sourceId: 'a',
          entries: [entry('a', 'old', { published: '2024-01-02T00:00:00Z' }), entry('a', 'seen', { firstSeenAt: '2024-01-05T00:00:00Z' })],
        },
        { sourceId: 'b', entries: [entry('b', 'new', { published: '2024-01-01T00:00:00Z', updated: '2024-01-10T00:00:00Z' })] },
      ],
      limit: 10,
    });
    expect(ids(merged)).toEqual(['b/new', 'a/seen', 'a/old']);
  });

  it('keeps the most recently updated copy of an id within a source', () => {
    const merged = mergeEntries({
      sources: [
        {
          sourceId: 'a',
          entries: [
            entry('a', 'x', { title: 'first', updated: '2024-01-02T00:00:00Z' }),
            entry('a', 'x', { title: 'edited', updated: '2024-01-03T00:00:00Z' }),
            entry('a', 'x', { title: 'stale', updated: '2024-01-01T00:00:00Z' }),
          ],
        },
      ],
      limit: 10,
    });
    expect(merged.map((e) => e.title)).toEqual(['edited']);
  });

  it('keeps the same id from two sources apart', () => {
    const merged = mergeEntries({
      sources: [
        { sourceId: 'a', entries: [entry('a', '1', { link: 'https://a.example/1' })] },
        { sourceId: 'b', entries: [entry('b', '1', { link: 'https://b.example/1' })] },
      ],
      limit: 10,
    });
    expect(ids(merged)).toEqual(['a/1', 'b/1']);
  });

  it('dedupes across sources by canonical link, keeping the most recently updated copy', () => {
    const merged = mergeEntries({
      sources: [
        {
          sourceId: 'a',
          entries: [
            entry('a', 'a1', { link: 'HTTPS://Example.ORG:443/post/?utm_source=rss&b=2&a=1#comments', updated: '2024-01-02T00:00:00Z' }),
          ],
        },
        {
          sourceId: 'b',
          entries: [entry('b', 'b1', { link: 'https://example.org/post?a=1&b=2&fbclid=xyz', updated: '2024-01-03T00:00:00Z' })],
        },
        { sourceId: 'c', entries: [entry('c', 'c1', { link: 'https://example.org/post?a=1&b=3', updated: '2024-01-01T00:00:00Z' })] },
      ],
      limit: 10,
    });
    expect(ids(merged)).toEqual(['b/b1', 'c/c1']);
  });

  it('keeps entries of one source that share a link (feeds that link every entry to their home page)', () => {
    const home = { link: 'https://status.example/' };
    const merged = mergeEntries({
      sources: [
        {
          sourceId: 'a',
          entries: [
            entry('a', '1', { ...home, updated: '2024-01-02T00:00:00Z' }),
            entry('a', '2', { ...home, updated: '2024-01-01T00:00:00Z' }),
          ],
        },
        { sourceId: 'b', entries: [entry('b', '3', { link: 'https://status.example', updated: '2023-12-01T00:00:00Z' })] },
      ],
      limit: 10,
    });
    // a's entries do not name that page as their story, so b's entry about it is no copy of theirs.
    expect(ids(merged)).toEqual(['a/1', 'a/2', 'b/3']);
  });

  it('keeps two sources whose entries all point at one home page (a premium and a bonus feed of one show)', () => {
    const home = { link: 'https://show.example/' };
    const episodes = (sourceId: string, days: number[]) =>
      days.map((day) => entry(sourceId, `${day}`, { ...home, updated: `2024-01-${String(day).padStart(2, '0')}T00:00:00Z` }));
    const merged = mergeEntries({
      sources: [
        { sourceId: 'premium', entries: episodes('premium', [1, 3]) },
        { sourceId: 'bonus', entries: episodes('bonus', [2, 4]) },
      ],
      limit: 10,
    });
    expect(ids(merged)).toEqual(['bonus/4', 'premium/3', 'bonus/2', 'premium/1']);
  });

  it('applies include and exclude rules', () => {
    const sources: MergeInput['sources'] = [
      {
        sourceId: 'a',
        entries: [
          entry('a', '1', { title: 'Release 1.0', updated: '2024-01-03T00:00:00Z' }),
          entry('a', '2', { title: 'Release candidate', updated: '2024-01-02T00:00:00Z' }),
          entry('a', '3', { title: 'Meetup', updated: '2024-01-01T00:00:00Z' }),
        ],
      },
    ];
    expect(ids(mergeEntries({ sources, include: ['release'], exclude: ['/candidate$/'], limit: 10 }))).toEqual(['a/1']);
    expect(ids(mergeEntries({ sources, exclude: ['release'], limit: 10 }))).toEqual(['a/3']);
  });

  it('applies the limit after sorting', () => {
    const entries = ['01', '02', '03', '04', '05'].map((day) => entry('a', day, { updated: `2024-01-${day}T00:00:00Z` }));
    expect(ids(mergeEntries({ sources: [{ sourceId: 'a', entries }], limit: 2 }))).toEqual(['a/05', 'a/04']);
    expect(mergeEntries({ sources: [{ sourceId: 'a', entries }], limit: 0 })).toEqual([]);
  });

  it('gives the same output, byte for byte, whatever order sources and entries come in', () => {
    const same = '2024-01-01T00:00:00Z';
    const a = [
      entry('a', 'z', { updated: same }),
      entry('a', 'm', { updated: same }),
      entry('a', 'q', { updated: '2024-01-02T00:00:00Z' }),
    ];
    const b = [
      entry('b', 'm', { updated: same }),
      entry('b', 'a', { published: same }),
      entry('b', 'x', { link: 'https://example.org/p', updated: same }),
    ];
    const c = [entry('c', 'y', { link: 'https://example.org/p/', updated: same })];
    const forward = mergeEntries({
      sources: [
        { sourceId: 'a', entries: a },
        { sourceId: 'b', entries: b },
        { sourceId: 'c', entries: c },
      ],
      limit: 10,
    });
    const backward = mergeEntries({
      sources: [
        { sourceId: 'c', entries: [...c].reverse() },
        { sourceId: 'b', entries: [...b].reverse() },
        { sourceId: 'a', entries: [...a].reverse() },
      ],
      limit: 10,
    });
    expect(JSON.stringify(backward)).toBe(JSON.stringify(forward));
    expect(ids(forward)).toEqual(['a/q', 'b/a', 'a/m', 'b/m', 'b/x', 'a/z']);
  });

  it('does not modify its input', () => {
    const entries = [entry('a', '2', { updated: '2024-01-01T00:00:00Z' }), entry('a', '1', { updated: '2024-01-02T00:00:00Z' })];
    const before = JSON.stringify(entries);
    mergeEntries({ sources: [{ sourceId: 'a', entries }], limit: 1 });
    expect(JSON.stringify(entries)).toBe(before);
  });
});

describe('entryDate', () => {
  it.each<[string, Partial<CachedEntry>, string]>([
    ['updated first', { updated: '2024-02-01T00:00:00Z', published: '2024-01-01T00:00:00Z' }, '2024-02-01T00:00:00.000Z'],
    ['then published', { published: '2024-01-01T12:00:00+02:00' }, '2024-01-01T10:00:00.000Z'],
    ['then first seen', {}, '2023-06-01T00:00:00.000Z'],
    ['skipping dates that do not parse', { updated: 'yesterday', published: 'soon' }, '2023-06-01T00:00:00.000Z'],
    ['skipping years a feed cannot carry', { updated: '+020000-01-01T00:00:00Z' }, '2023-06-01T00:00:00.000Z'],
  ])('%s', (_name, fields, expected) => {
    expect(entryDate({ firstSeenAt: '2023-06-01T00:00:00Z', ...fields }).toISOString()).toBe(expected);
  });

  it('falls back to the epoch, never the clock', () => {
    expect(entryDate({ firstSeenAt: 'garbage' }).getTime()).toBe(0);
  });
});

describe('canonicalLink', () => {
  it.each<[string, string | undefined]>([
    ['HTTPS://Example.COM:443/Path/', 'https://example.com/Path'],
    ['http://example.com:80/', 'http://example.com'],
    ['http://example.com:8080/a', 'http://example.com:8080/a'],
    ['https://example.com/a#section', 'https://example.com/a'],
    ['https://example.com/a?utm_source=x&utm_medium=rss&UTM_Campaign=y&fbclid=1&gclid=2', 'https://example.com/a'],
    ['https://example.com/a?z=1&a=2&m=3', 'https://example.com/a?a=2&m=3&z=1'],
    ['https://example.com/a?b=1&utm_term=t&a=1', 'https://example.com/a?a=1&b=1'],
    ['https://example.com/a//', 'https://example.com/a'],
    ['https://user:pw@example.com/a', 'https://example.com/a'],
    ['not a url', undefined],
    ['/relative/path', undefined],
  ])('%s → %s', (input, expected) => {
    expect(canonicalLink(input)).toBe(expected);
  });
});
