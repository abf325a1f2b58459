// The usage recorder on a real SQLite store: counts survive flushes that overlap new requests and
// the close at shutdown, and a deleted feed's counts are not written back by a flush under way.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createStatsRecorder } from '../../src/stats/feed-stats.js';
import { createFeedStatsStorage } from '../../src/store/feed-stats.js';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';

const NOW = new Date('2026-11-29T10:00:00Z');
const hit = (feedId: string, notModified = false) => ({ feedId, tokenId: 'default', notModified, userAgent: undefined, at: NOW });

describe('feed usage recorder', () => {
  let dir: string;
  let store: KeyValueStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-stats-'));
    store = await openKeyValueStore(`sqlite://${join(dir, 'stats.sqlite')}`);
  });
  afterEach(async () => {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every count, including those recorded while a flush was running and at close', async () => {
    const stats = createStatsRecorder(createFeedStatsStorage(store), createLogger('silent'));
    for (let index = 0; index < 3; index += 1) stats.record(hit('f1'));
    const first = stats.flush();
    for (let index = 0; index < 2; index += 1) stats.record(hit('f1', true));
    await stats.flush();
    await first;
    stats.record(hit('f1'));
    await stats.close();
    const read = await createStatsRecorder(createFeedStatsStorage(store), createLogger('silent')).read('f1', NOW);
    expect(read.tokens.get('default')).toMatchObject({ requests: 6, notModified: 2, lastSeenAt: NOW.toISOString() });
    expect(read.days.at(-1)).toEqual({ date: '2026-11-29', requests: 6, notModified: 2 });
  });

  it('forgets a feed for good, even with a flush of its counts under way', async () => {
    const stats = createStatsRecorder(createFeedStatsStorage(store), createLogger('silent'));
    stats.record(hit('gone'));
    const flushing = stats.flush();
    await stats.forget('gone');
    await flushing;
    await stats.close();
    expect(await store.readFields('stats:gone')).toEqual({});
  });

  it('prunes a feed nobody reads the stats of, once a day on flush', async () => {
    const stats = createStatsRecorder(createFeedStatsStorage(store), createLogger('silent'));
    const agent = 'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 9 subscribers; feed-id=1)';
    const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);
    stats.record({ ...hit('f3'), userAgent: agent, at: daysAgo(120) });
    await stats.flush();
    const names = async () => Object.keys(await store.readFields('stats:f3')).sort();
    expect(await names()).toContain('day|2026-08-01|requests');
    // Four months later, a hit without a reader report: the old report and the old day go on flush.
    stats.record({ ...hit('f3'), at: NOW });
    await stats.flush();
    const kept = await names();
    expect(kept.filter((name) => name.startsWith('reader|'))).toEqual([]);
    expect(kept).not.toContain('day|2026-08-01|requests');
    expect(kept).toContain('day|2026-11-29|requests');
    expect(kept).toContain('token|default|requests');
    await stats.close();
  });

  it('drops reader reports a month old when the stats are read', async () => {
    const stats = createStatsRecorder(createFeedStatsStorage(store), createLogger('silent'));
    const agent = 'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 9 subscribers; feed-id=1)';
    stats.record({ ...hit('f2'), userAgent: agent, at: new Date(NOW.getTime() - 40 * 86_400_000) });
    stats.record({ ...hit('f2'), tokenId: 'phone', userAgent: agent.replace('9 sub', '3 sub'), at: new Date(NOW.getTime() - 86_400_000) });
    await stats.flush();
    const read = await stats.read('f2', NOW);
    expect(read.tokens.get('default')?.readers).toEqual([]);
    expect(read.tokens.get('phone')?.subscribers).toBe(3);
    expect(Object.keys(await store.readFields('stats:f2')).filter((name) => name.startsWith('reader|'))).toHaveLength(1);
    await stats.close();
  });
});
