// memory.heapGrowthPercent: the rule reaches V8 (a process under it keeps a smaller heap than the
// same work under V8's own rule), its slack never drops below MIN_SLACK_BYTES, and a bad value stops
// the process like any other setting.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { growthPercentFor, MIN_SLACK_BYTES } from '../src/heap-growth.js';
import { ROOT, runCli } from './helpers/cli.js';

const MiB = 1024 * 1024;

// A steady live set (argv[2] MiB), then batches that live long enough to be promoted and die:
// old-space garbage, as a refresh pass makes. Prints the largest heap V8 kept (heapTotal) in MiB.
const CHURN = `
import { applyHeapGrowth } from './dist/heap-growth.js';
applyHeapGrowth(Number(process.argv[1]));
const live = [];
while (process.memoryUsage().heapUsed < Number(process.argv[2]) * 2 ** 20)
  for (let i = 0; i < 10000; i++) live.push({ id: live.length, text: \`entry \${live.length} \`.repeat(20) });
const ring = new Array(16);
let peak = 0;
for (let round = 0; round < 400; round++) {
  // A turn of the event loop, as a server has between requests: the rule follows each collection there.
  await new Promise((resolve) => setImmediate(resolve));
  const batch = [];
  for (let i = 0; i < 4000; i++) batch.push({ round, text: \`item \${i} \${round} \`.repeat(8) });
  ring[round % ring.length] = batch;
  peak = Math.max(peak, process.memoryUsage().heapTotal);
}
console.log(JSON.stringify({ peakMiB: peak / 2 ** 20, live: live.length }));
`;

function peakHeapUnder(percent: number, liveMiB: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHURN, String(percent), String(liveMiB)], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`churn under ${percent}% exited ${code}: ${stderr}`));
      resolve((JSON.parse(stdout) as { peakMiB: number }).peakMiB);
    });
  });
}

// Old-space garbage as a refresh pass leaves it (argv[1] MiB live, the rest dropped), then either
// idle or busy (argv[2]) for a while with the idle collection on (windows of 100 ms, two quiet in a
// row). Prints the heap before and after and how many idle collections ran.
const IDLE = `
import { collectWhenIdle } from './dist/heap-growth.js';
let collections = 0;
collectWhenIdle({ windowMs: 100, quietWindows: 2, onCollected: () => (collections += 1) });
const live = [];
let ring = new Array(48);
for (let round = 0; round < 300; round++) {
  await new Promise((resolve) => setImmediate(resolve));
  const batch = [];
  for (let i = 0; i < 4000; i++) batch.push({ round, text: \`item \${i} \${round} \`.repeat(8) });
  ring[round % ring.length] = batch;
  if (round % 10 === 0 && process.memoryUsage().heapUsed < Number(process.argv[1]) * 2 ** 20) live.push(batch);
}
ring = undefined;
const before = process.memoryUsage().heapTotal;
const until = Date.now() + 1500;
if (process.argv[2] === 'busy') {
  // Busy: the event loop is never free for a whole window.
  while (Date.now() < until) await new Promise((resolve) => setImmediate(resolve));
} else {
  await new Promise((resolve) => setTimeout(resolve, 1500));
}
console.log(JSON.stringify({ beforeMiB: before / 2 ** 20, afterMiB: process.memoryUsage().heapTotal / 2 ** 20, collections, live: live.length }));
`;

interface IdleRun {
  beforeMiB: number;
  afterMiB: number;
  collections: number;
}

function heapAfterIdle(mode: 'idle' | 'busy'): Promise<IdleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', IDLE, '40', mode], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`idle run (${mode}) exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as IdleRun);
    });
  });
}

describe('idle collection', () => {
  it('gives the heap back to what is live once the process goes idle', { timeout: 60_000 }, async () => {
    const run = await heapAfterIdle('idle');
    // The garbage was there: the heap held well over the ~40 MiB kept (97 MiB once with a ring of 32
    // batches, at V8's whim: the ring holds 48 now, and twice what is kept is garbage enough).
    expect(run.beforeMiB).toBeGreaterThan(80);
    // Once: ~13 quiet windows followed, and nothing was left to collect after the first.
    expect(run.collections).toBe(1);
    expect(run.afterMiB).toBeLessThan(run.beforeMiB * 0.6);
  });

  it('leaves a busy process to V8', { timeout: 60_000 }, async () => {
    const run = await heapAfterIdle('busy');
    expect(run.beforeMiB).toBeGreaterThan(80);
    expect(run.collections).toBe(0);
  });
});

describe('heap growth rule', () => {
  it.each([
    // [percent asked, live MiB, percent applied]
    [50, 400, 50],
    [50, 128, 50],
    [50, 100, 64], // 64 MiB of slack is 64% of 100 MiB
    [20, 160, 40],
    [50, 16, 300], // never more than V8's own 4×
  ])('%i%% of %i MiB live applies %i%%', (percent, liveMiB, applied) => {
    expect(growthPercentFor(percent, liveMiB * MiB)).toBe(applied);
    if (applied < 300) expect((liveMiB * MiB * applied) / 100).toBeGreaterThanOrEqual(MIN_SLACK_BYTES);
  });

  it('keeps the heap nearer what is live than V8 does on its own', { timeout: 90_000 }, async (context) => {
    // The control first: under V8's rule the same work grows the heap well past the live set (on
    // Node 20, ~510 MiB for 160 live), so a smaller heap under the rule is the rule's doing. 20% of
    // 160 MiB is less than the minimum slack, so the rule keeps 64 MiB: a peak of ~290 MiB.
    const own = await peakHeapUnder(0, 160);
    // Node 24's V8 keeps this work at ~290 MiB on its own: no growth for the rule to cut, nothing to show.
    if (own <= 320) context.skip(`V8 ${process.versions.v8} does not grow this heap past ${Math.round(own)} MiB on its own`);
    const ruled = await peakHeapUnder(20, 160);
    expect(ruled).toBeLessThan(own * 0.75);
  });

  it('stops the process with exit 2 and one line naming FEEDPROXY_HEAP_GROWTH_PERCENT for a bad value', async () => {
    for (const value of ['lots', '-5', '301']) {
      const run = await runCli(['serve'], { FEEDPROXY_CONFIG: '', FEEDPROXY_HEAP_GROWTH_PERCENT: value, PORT: '0' });
      expect(run.code).toBe(2);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('FEEDPROXY_HEAP_GROWTH_PERCENT: must be a whole number from 0 to 300');
    }
  });
});
