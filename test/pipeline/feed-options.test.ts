// Feed options on merged entries: pure, table-driven.
import { describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { applyFeedOptions, DEFAULT_FEED_OPTIONS, feedOptionsOf, oldestAllowed } from '../../src/pipeline/feed-options.js';

const entry = (overrides: Partial<CachedEntry>): CachedEntry => ({
  id: 'e1',
  sourceId: 's1',
  firstSeenAt: '2026-11-01T00:00:00Z',
  authors: [],
  categories: [],
  enclosures: [],
  ...overrides,
});
const sources = new Map([['s1', { title: 'Team & Co', url: 'https://team.example/' }]]);

describe('feed options', () => {
  it('defaults every option an older record lacks', () => {
    expect(feedOptionsOf(undefined)).toEqual(DEFAULT_FEED_OPTIONS);
    expect(feedOptionsOf({ summaryOnly: true })).toEqual({ ...DEFAULT_FEED_OPTIONS, summaryOnly: true });
  });

  it('computes the oldest date allowed from the maximum age, 0 meaning any age', () => {
    const now = new Date('2026-11-29T12:00:00Z');
    expect(oldestAllowed({ ...DEFAULT_FEED_OPTIONS, maxAgeDays: 0 }, now)).toBeUndefined();
    expect(oldestAllowed({ ...DEFAULT_FEED_OPTIONS, maxAgeDays: 7 }, now)?.toISOString()).toBe('2026-11-22T12:00:00.000Z');
  });

  it.each([
    [
      'nothing but the source facet by default',
      DEFAULT_FEED_OPTIONS,
      entry({ title: 'Hi', content: '<p>x</p>' }),
      { title: 'Hi', content: '<p>x</p>', source: sources.get('s1') },
    ],
    [
      'no facet when sourceInfo is off',
      { ...DEFAULT_FEED_OPTIONS, sourceInfo: false },
      entry({ title: 'Hi' }),
      { title: 'Hi', source: undefined },
    ],
    [
      'the source title before the entry title',
      { ...DEFAULT_FEED_OPTIONS, prefixSourceTitle: true },
      entry({ title: 'Hi' }),
      { title: 'Team & Co: Hi' },
    ],
    [
      'the source title alone for an untitled entry',
      { ...DEFAULT_FEED_OPTIONS, prefixSourceTitle: true },
      entry({}),
      { title: 'Team & Co' },
    ],
    [
      'the summary kept and the content dropped',
      { ...DEFAULT_FEED_OPTIONS, summaryOnly: true },
      entry({ summary: '<p>short</p>', content: '<p>long</p>' }),
      { summary: '<p>short</p>', content: undefined },
    ],
    [
      'a summary derived from content as escaped text',
      { ...DEFAULT_FEED_OPTIONS, summaryOnly: true },
      entry({ content: '<p>A &amp; <b>B</b> &lt;tag&gt;</p>' }),
      { summary: 'A &amp; B &lt;tag&gt;', content: undefined },
    ],
  ])('%s', (_name, options, input, expected) => {
    const [published] = applyFeedOptions([input], options, sources);
    expect(published).toMatchObject(Object.fromEntries(Object.entries(expected).filter(([, value]) => value !== undefined)));
    for (const [key, value] of Object.entries(expected)) if (value === undefined) expect(published).not.toHaveProperty(key);
  });

  it('cuts a derived summary at a word boundary near 500 characters', () => {
    const [published] = applyFeedOptions(
      [entry({ content: `<p>${'word '.repeat(300)}</p>` })],
      { ...DEFAULT_FEED_OPTIONS, summaryOnly: true },
      sources,
    );
    expect(published!.summary!.length).toBeLessThanOrEqual(501);
    expect(published!.summary).toMatch(/word…$/);
  });
});
