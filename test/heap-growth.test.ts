// memory.heapGrowthPercent: the rule reaches V8 (a process under it keeps a smaller heap than the
// same work under V8's own rule), and a bad value stops the process like any other setting.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './helpers/cli.js';

// A steady live set, then batches that live long enough to be promoted and die: old-space garbage,
// as a refresh pass makes. Prints the largest heap V8 kept (heapTotal) in MiB.
const CHURN = `
import { applyHeapGrowth } from './dist/heap-growth.js';
applyHeapGrowth(Number(process.argv[1]));
const live = [];
for (let i = 0; i < 200000; i++) live.push({ id: i, text: \`entry \${i} \`.repeat(20) });
const ring = new Array(16);
let peak = 0;
for (let round = 0; round < 400; round++) {
  const batch = [];
  for (let i = 0; i < 4000; i++) batch.push({ round, text: \`item \${i} \${round} \`.repeat(8) });
  ring[round % ring.length] = batch;
  peak = Math.max(peak, process.memoryUsage().heapTotal);
}
console.log(JSON.stringify({ peakMiB: peak / 2 ** 20, live: live.length }));
`;

function peakHeapUnder(percent: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHURN, String(percent)], { cwd: ROOT });
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

describe('heap growth rule', () => {
  it('keeps the heap nearer what is live than V8 does on its own', { timeout: 60_000 }, async () => {
    // The control first: under V8's rule the same work grows the heap well past the live set, so a
    // smaller heap under the rule is the rule's doing (here ~245 MiB against ~105 MiB).
    const own = await peakHeapUnder(0);
    const ruled = await peakHeapUnder(20);
    expect(own).toBeGreaterThan(150);
    expect(ruled).toBeLessThan(own * 0.7);
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
