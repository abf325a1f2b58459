// The public limit's budgets, per address and feed URL (routes/public-limit.ts), on a fake clock.
// take() keeps the last call's budget to skip its lookup: interleaved callers, a new minute and
// forgotten budgets must count exactly as without it.
import { describe, expect, it } from 'vitest';
import { createPublicLimit, type SharedCounts } from '../../src/routes/public-limit.js';

describe('public limit', () => {
  it('counts each address and feed apart, whatever order the calls come in', async () => {
    let at = 1_000_000;
    const limit = createPublicLimit(2, () => at);
    const take = (address: string, feed: string | undefined) => limit.take(address, feed).allowed;
    // One address, two feeds, interleaved: two each.
    expect([take('198.51.100.1', 'f:a'), take('198.51.100.1', 'f:b'), take('198.51.100.1', 'f:a'), take('198.51.100.1', 'f:b')]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([take('198.51.100.1', 'f:a'), take('198.51.100.1', 'f:b')]).toEqual([false, false]);
    // Another address: its own budget; URLs that open nothing share one per address.
    expect([take('198.51.100.2', 'f:a'), take('198.51.100.2', undefined), take('198.51.100.2', undefined)]).toEqual([true, true, true]);
    expect(take('198.51.100.2', undefined)).toBe(false);
    // The same call twice in a row after a refusal is still refused; a new minute opens the budget again.
    expect(take('198.51.100.1', 'f:a')).toBe(false);
    at += 60_000;
    expect([take('198.51.100.1', 'f:a'), take('198.51.100.1', 'f:a'), take('198.51.100.1', 'f:a')]).toEqual([true, true, false]);
    await limit.close();
  });

  it('starts a forgotten budget afresh', async () => {
    let at = 1_000_000;
    const limit = createPublicLimit(1, () => at);
    expect(limit.take('198.51.100.1', 'f:a').allowed).toBe(true);
    expect(limit.take('198.51.100.1', 'f:a').allowed).toBe(false);
    // Past the table's bound (100,000 budgets) the oldest are forgotten: the first one among them.
    for (let index = 0; index < 100_000; index += 1) {
      at += 1;
      limit.take(`10.0.${index >> 8}.${index & 255}`, 'f:b');
    }
    expect(limit.take('198.51.100.1', 'f:a').allowed).toBe(true);
    await limit.close();
  });

  it('sends every admitted poll to the shared count, batch after batch', async () => {
    const at = 1_200_000;
    const sent: Array<[string, number]> = [];
    const shared: SharedCounts = {
      add: async (_window, key, by) => (sent.push([key, by]), sent.filter(([named]) => named === key).reduce((sum, [, n]) => sum + n, 0)),
      drop: async () => undefined,
    };
    const limit = createPublicLimit(100, () => at, shared);
    // Polls of one batch are sent as one count, a later batch as its own; two budgets apart.
    for (let index = 0; index < 3; index += 1) limit.take('198.51.100.1', 'f:a');
    limit.take('198.51.100.2', 'f:a');
    await limit.flush();
    for (let index = 0; index < 2; index += 1) limit.take('198.51.100.1', 'f:a');
    await limit.flush();
    expect(sent).toEqual([
      ['198.51.100.1|f:a', 3],
      ['198.51.100.2|f:a', 1],
      ['198.51.100.1|f:a', 2],
    ]);
    await limit.close();
  });
});
