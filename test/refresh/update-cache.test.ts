// What a successful fetch does to the cached entries: pure, so table-driven with fixed clocks.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/model.js';
import { updateCachedEntries } from '../../src/refresh/update-cache.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const policy = { retentionMs: 30 * DAY, maxEntries: 500 };
const entry = (id: string, title = id): Entry => ({
  id,
  title,
  link: `https://example.org/${id}`,
  authors: [],
  categories: [],
  enclosures: [],
});

describe('updateCachedEntries', () => {
  it('takes an entry made from the same upstream item (same fingerprint) as the cached copy, and one that came back as marked', () => {
    const printed = (id: string, fingerprint: string, title = id): Entry => ({ ...entry(id, title), fingerprint });
    const cached = updateCachedEntries([], [printed('a', 'fa'), printed('b', 'fb')], 's', new Date(T0), policy).entries;
    const cachedA = cached.find((e) => e.id === 'a')!;
    // The cached copy itself, bookkeeping included (first seen, canonical link): nothing recomputed.
    const same = updateCachedEntries(cached, [printed('a', 'fa'), printed('b', 'fb')], 's', new Date(T0 + DAY), policy);
    expect(same).toMatchObject({ changed: false, dirty: false, added: 0, updated: 0 });
    expect(same.entries.find((e) => e.id === 'a')).toEqual(cachedA);
    // A changed item (new fingerprint, new title) is still an update.
    const edited = updateCachedEntries(cached, [printed('a', 'fa2', 'A, edited'), printed('b', 'fb')], 's', new Date(T0 + DAY), policy);
    expect(edited).toMatchObject({ changed: true, updated: 1 });
    // Gone, then back with the same fingerprint: saved without its gone mark, not counted as new.
    const gone = updateCachedEntries(cached, [printed('b', 'fb')], 's', new Date(T0 + DAY), policy).entries;
    expect(gone.find((e) => e.id === 'a')?.goneSince).toBeDefined();
    const back = updateCachedEntries(gone, [printed('a', 'fa'), printed('b', 'fb')], 's', new Date(T0 + 2 * DAY), policy);
    expect(back).toMatchObject({ changed: false, dirty: true, added: 0 });
    expect(back.entries.find((e) => e.id === 'a')).toEqual(cachedA);
  });

  it('hands each kept entry’s JSON text, in order: what the store writes instead of stringifying the list', () => {
    const cached = updateCachedEntries([], [entry('a'), entry('b', 'B ü')], 's', new Date(T0), policy).entries;
    const update = updateCachedEntries(cached, [entry('c'), entry('b', 'B ü')], 's', new Date(T0 + DAY), { ...policy, maxBytes: 1 << 20 });
    expect(update.entries.map((e) => e.id).sort()).toEqual(['a', 'b', 'c']);
    expect(update.texts).toEqual(update.entries.map((e) => JSON.stringify(e)));
    expect(update.bytes).toBe(update.texts.reduce((total, text) => total + Buffer.byteLength(text), 0));
  });

  it('keeps an entry for the retention period counted from when it left the document', () => {
    let cached = updateCachedEntries([], [entry('a'), entry('b')], 's', new Date(T0), policy).entries;
    // Day 40: the same document again. Nothing a reader sees changed.
    const same = updateCachedEntries(cached, [entry('a'), entry('b')], 's', new Date(T0 + 40 * DAY), policy);
    expect(same).toMatchObject({ changed: false, dirty: false });
    // Day 41: `a` is gone from the document. It stays, marked, and the list must be saved.
    const gone = updateCachedEntries(cached, [entry('b'), entry('c')], 's', new Date(T0 + 41 * DAY), policy);
    expect(gone.dirty).toBe(true);
    expect(gone.entries.map((e) => e.id).sort()).toEqual(['a', 'b', 'c']);
    cached = gone.entries;
    // Day 70: 29 days after it left — still kept. Day 72: 31 days — expired.
    expect(updateCachedEntries(cached, [entry('b'), entry('c')], 's', new Date(T0 + 70 * DAY), policy).entries.map((e) => e.id)).toContain(
      'a',
    );
    const expired = updateCachedEntries(cached, [entry('b'), entry('c')], 's', new Date(T0 + 72 * DAY), policy);
    expect(expired.entries.map((e) => e.id)).not.toContain('a');
    expect(expired.changed).toBe(true);
  });

  it('keeps the newest entries that fit in the byte cap, skips one too large, and stays put on the next refresh', () => {
    const dated = (id: string, day: number, size: number): Entry => ({
      ...entry(id),
      content: 'x'.repeat(size),
      published: new Date(T0 + day * DAY).toISOString(),
    });
    // Newest first: f (too large alone), e, d, c fit in 10,000 bytes; b and a do not any more.
    const document = [
      dated('a', 0, 3000),
      dated('b', 1, 3000),
      dated('c', 2, 3000),
      dated('d', 3, 3000),
      dated('e', 4, 500),
      dated('f', 5, 20_000),
    ];
    const bounded = { ...policy, maxBytes: 10_000 };
    const first = updateCachedEntries([], document, 's', new Date(T0 + 9 * DAY), bounded);
    expect(first.entries.map((e) => e.id)).toEqual(['e', 'd', 'c']);
    expect(first.bytes).toBe(first.entries.reduce((total, e) => total + Buffer.byteLength(JSON.stringify(e)), 0));
    expect(first.bytes).toBeLessThanOrEqual(10_000);
    const second = updateCachedEntries(first.entries, document, 's', new Date(T0 + 10 * DAY), bounded);
    expect(second).toMatchObject({ changed: false, dirty: false, added: 0 });
    // Without the cap, everything (positive control).
    expect(updateCachedEntries([], document, 's', new Date(T0 + 9 * DAY), policy).entries).toHaveLength(6);
  });

  it('keeps the same entries from a document longer than the cap, refresh after refresh', () => {
    const capped = { ...policy, maxEntries: 4 };
    const undated = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => entry(id));
    const first = updateCachedEntries([], undated, 's', new Date(T0), capped);
    expect(first.entries.map((e) => e.id).sort()).toEqual(['a', 'b', 'c', 'd']);
    const second = updateCachedEntries(first.entries, undated, 's', new Date(T0 + DAY), capped);
    expect(second).toMatchObject({ changed: false, dirty: false, added: 0 });
    expect(second.entries.map((e) => e.id).sort()).toEqual(['a', 'b', 'c', 'd']);
    // Dated entries: the newest four, wherever the document lists them.
    const dated = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, day) => ({ ...entry(id), published: new Date(T0 + day * DAY).toISOString() }));
    const byDate = updateCachedEntries([], dated, 's', new Date(T0 + 9 * DAY), capped);
    expect(byDate.entries.map((e) => e.id)).toEqual(['f', 'e', 'd', 'c']);
    expect(updateCachedEntries(byDate.entries, dated, 's', new Date(T0 + 10 * DAY), capped)).toMatchObject({
      changed: false,
      dirty: false,
    });
  });

  it('forgets the departure of an entry that comes back', () => {
    const cached = updateCachedEntries([], [entry('a')], 's', new Date(T0), policy).entries;
    const left = updateCachedEntries(cached, [], 's', new Date(T0 + DAY), policy).entries;
    const back = updateCachedEntries(left, [entry('a')], 's', new Date(T0 + 2 * DAY), policy);
    expect(back.dirty).toBe(true);
    expect(back.entries[0]!.goneSince).toBeUndefined();
    expect(back.entries[0]!.firstSeenAt).toBe(new Date(T0).toISOString());
  });

  it('replaces an updated entry, keeps its first-seen time, and caches its canonical link', () => {
    const cached = updateCachedEntries([], [entry('a', 'Old')], 's', new Date(T0), policy).entries;
    const update = updateCachedEntries(cached, [entry('a', 'New')], 's', new Date(T0 + DAY), policy);
    expect(update).toMatchObject({ changed: true, updated: 1, added: 0 });
    expect(update.entries[0]).toMatchObject({
      title: 'New',
      firstSeenAt: new Date(T0).toISOString(),
      canonicalLink: 'https://example.org/a',
    });
  });

  it('keeps at most maxEntries, newest first', () => {
    const dated = (id: string, day: number): Entry => ({ ...entry(id), published: new Date(T0 + day * DAY).toISOString() });
    const update = updateCachedEntries([], [dated('old', 1), dated('new', 3), dated('mid', 2)], 's', new Date(T0), {
      ...policy,
      maxEntries: 2,
    });
    expect(update.entries.map((e) => e.id)).toEqual(['new', 'mid']);
  });
});
