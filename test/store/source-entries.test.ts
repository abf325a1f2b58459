// A source's cached entries are stored a record each (store/sources.ts, kv.ts readEntries and
// writeEntries): a refresh writes the entries that changed since it read them, not the whole list;
// entries an earlier release stored as one list are read and replaced on the next write. Real stores.
import { afterEach, describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { createRegistry } from '../../src/store/registry.js';
import { sourceRecord } from '../helpers/source-record.js';
import { ownStore, STORES, type StoreKind } from '../helpers/stores.js';

const entry = (id: string, day: number, title = `Entry ${id}`): CachedEntry => ({
  id,
  title,
  authors: [],
  categories: [],
  enclosures: [],
  sourceId: 's1',
  published: new Date(Date.UTC(2026, 0, day)).toISOString(),
  firstSeenAt: '2026-01-01T00:00:00.000Z',
});

describe.each(STORES)('source entries (%s store)', (kind: StoreKind) => {
  const own = ownStore(kind);
  afterEach(() => own.remove());
  const open = async () => {
    const kv = await own.open();
    return { kv, registry: createRegistry(kv) };
  };

  it('writes the entries that changed since they were read, and leaves the others as they are stored', async () => {
    const { kv, registry } = await open();
    await registry.saveEntries('s1', [entry('b', 2), entry('a', 3), entry('c', 1)]);
    // Read back newest first, whatever order they were written in.
    const stored = await registry.getStoredEntries('s1');
    expect(stored.entries.map((cached) => cached.id)).toEqual(['a', 'b', 'c']);
    const revision = await registry.getEntryRevisions(['s1']);

    // Another writer changes entry b behind this reader's back.
    const behind = entry('b', 2, 'written behind its back');
    await kv.writeEntries('s1', {
      ids: ['a', 'b', 'c'],
      put: [['b', JSON.stringify(behind)]],
      revision: { key: 'entries-rev:s1', value: 'x' },
    });

    // The reader changes entry a and drops c: b was not among what changed, so it is not written.
    const [a, b] = stored.entries;
    await registry.saveEntries('s1', [{ ...a!, title: 'changed' }, b!], undefined, stored);
    expect((await registry.getEntries('s1')).map((cached) => cached.title)).toEqual(['changed', 'written behind its back']);
    // Without what was read, every entry is written.
    await registry.saveEntries('s1', [{ ...a!, title: 'changed' }, b!]);
    expect((await registry.getEntries('s1')).map((cached) => cached.title)).toEqual(['changed', 'Entry b']);
    // Each write moves the revision a rebuild compares.
    const after = await registry.getEntryRevisions(['s1']);
    expect(after[0]).not.toBe(revision[0]);
    expect(after[0]).not.toBe('x');
  });

  it('keeps entries whatever their ids hold (lone surrogates, NUL, control characters, quotes, 1 KB), across writes', async () => {
    const { registry } = await open();
    const ids = ['lone \ud800 surrogate', 'nul \u0000 inside', 'unit \u001f sep', `quotes "'\\`, 'ü ✓ 𝄞 日本', '"'.repeat(1024), 'plain'];
    await registry.saveEntries(
      's1',
      ids.map((id, index) => entry(id, index + 1)),
    );
    const first = await registry.getStoredEntries('s1');
    expect(first.entries.map((cached) => cached.id).sort()).toEqual([...ids].sort());
    // A refresh's write: one entry added, the others unchanged and not put; none may be lost.
    await registry.saveEntries('s1', [entry('added', 30), ...first.entries], undefined, first);
    const second = await registry.getStoredEntries('s1');
    expect(second.entries.map((cached) => cached.id).sort()).toEqual([...ids, 'added'].sort());
    await registry.saveEntries('s1', second.entries.slice(1), undefined, second);
    expect((await registry.getEntries('s1')).map((cached) => cached.id).sort()).toEqual([...ids].sort());
  });

  it('writes a source of 10,000 entries (the most a source may keep) in one step, and 10,000 changed ones after', async () => {
    const { registry } = await open();
    const many = Array.from({ length: 10_000 }, (_, index) => entry(`m${index}`, 1 + (index % 28)));
    await registry.saveEntries('s1', many);
    const stored = await registry.getStoredEntries('s1');
    expect(stored.entries).toHaveLength(10_000);
    await registry.saveEntries(
      's1',
      stored.entries.map((cached) => ({ ...cached, title: 'changed' })),
      undefined,
      stored,
    );
    const titles = new Set((await registry.getEntries('s1')).map((cached) => cached.title));
    expect([...titles]).toEqual(['changed']);
  });

  it("reads entries an earlier release stored as one list, until the source's next write replaces it", async () => {
    const { kv, registry } = await open();
    const list = [entry('new', 9), entry('old', 1)];
    await kv.set('entries:s1', list);
    await kv.set('entries:s2', list);
    expect(await registry.getEntries('s1')).toEqual(list);
    expect((await registry.getEntriesOf(['s2', 's1'])).get('s2')).toEqual(list);

    await registry.saveEntries('s1', [entry('newer', 10), ...list]);
    expect((await registry.getEntries('s1')).map((cached) => cached.id)).toEqual(['newer', 'new', 'old']);
    expect(await kv.get('entries:s1')).toBeUndefined();

    // Deleting a source takes its entries, in either form.
    await registry.addSource(sourceRecord('s1'));
    await registry.addSource(sourceRecord('s2'));
    await registry.deleteSource(sourceRecord('s1'));
    await registry.deleteSource(sourceRecord('s2'));
    expect(await registry.getEntriesOf(['s1', 's2'])).toEqual(
      new Map([
        ['s1', []],
        ['s2', []],
      ]),
    );
    expect(await kv.get('entries:s2')).toBeUndefined();
  });
});
