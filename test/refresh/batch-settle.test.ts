// The due index's bookkeeping after a refresh that wrote nothing (a claimed source found not due
// under its lease) failing is logged; it is no failure of the refresh, which is reported as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshDueSources } from '../../src/refresh/run-batch.js';
import type { RefreshResult } from '../../src/refresh/refresh-source.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { sourceRecord } from '../helpers/source-record.js';

describe('a batch whose settle fails', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('reports the refresh as it ended (skipped), not as failed', async () => {
    const { registry } = t.deps;
    // Due in an hour: a claim of it (another scheduler's stale view, forced here) finds it not due.
    await registry.addSource(sourceRecord('settle-1', { nextFetchAt: new Date(t.deps.now().getTime() + 3_600_000).toISOString() }));
    const claimDueSources = registry.claimDueSources.bind(registry);
    const syncDueIndex = registry.syncDueIndex;
    let claimed = false;
    let settled = 0;
    registry.claimDueSources = async () => (claimed ? [] : ((claimed = true), ['settle-1']));
    registry.syncDueIndex = async () => {
      settled += 1;
      throw new Error('store went away');
    };
    const results: RefreshResult[] = [];
    try {
      await refreshDueSources(t.deps, { onResult: (result) => results.push(result) });
    } finally {
      registry.claimDueSources = claimDueSources;
      registry.syncDueIndex = syncDueIndex;
    }
    // The settle ran and failed, and the result is the refresh's own.
    expect(settled).toBe(1);
    expect(results.map((result) => result.outcome)).toEqual(['skipped']);
  });
});
