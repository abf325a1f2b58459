// Bench 6 — scaling: how the figures of benches 1, 2, 4 and 5 move from the smaller to the larger
// store, in one small table. It measures nothing itself: it reads what the memory bench (serving,
// rebuild and RSS at each size) and the refresh bench (its two instance sizes) found in this run,
// or their last saved results of the same mode.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchResult, RESULTS_DIR, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { memorySizes } from './memory.js';

function loadResult(name: string, quick: boolean, fresh: Map<string, BenchResult>): BenchResult | undefined {
  const current = fresh.get(name);
  if (current) return current;
  const path = join(RESULTS_DIR, `${name}${quick ? '.quick' : ''}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as BenchResult) : undefined;
}

export async function runScalingBench(options: RunOptions, fresh: Map<string, BenchResult> = new Map()): Promise<BenchResult> {
  const startedAt = new Date();
  const memory = loadResult('memory', options.quick, fresh);
  const refresh = loadResult('refresh', options.quick, fresh);
  const [small, large] = memorySizes(options.quick) as [number, number];
  const rows: Array<Array<string | number>> = [];
  const growth = (a: number, b: number) => `×${(b / a).toFixed(2)}`;
  const add = (label: string, a: unknown, b: unknown, note: string) => {
    if (typeof a !== 'number' || typeof b !== 'number') rows.push([label, '—', '—', 'not measured in this run', note]);
    else rows.push([label, a, b, growth(a, b), note]);
  };
  const m = memory?.figures ?? {};
  add('serving: req/s of one feed (200, Atom)', m[`${small}|servingRps`], m[`${large}|servingRps`], 'should stay flat');
  add('serving: p99 ms', m[`${small}|servingP99Ms`], m[`${large}|servingP99Ms`], 'should stay flat');
  const r = refresh?.figures ?? {};
  add(
    `refresh: sources/s (${String(r.smallSources ?? '?')} → ${String(r.sources ?? '?')} sources)`,
    r.smallPerSecond,
    r.oursPerSecond,
    'flat = linear total time',
  );
  add('refresh: CPU ms per source', r.smallCpuMsPerSource, r.oursCpuMsPerSource, 'flat = linear');
  add('rebuild of a 10-source feed after 1 change, ms', m[`${small}|rebuildMs`], m[`${large}|rebuildMs`], 'should stay flat');
  add(
    'RSS after serving + reading everything, MiB',
    m[`${small}|touchedRssMiB`],
    m[`${large}|touchedRssMiB`],
    `×${(large / small).toFixed(0)} sources: linear would be ×${(large / small).toFixed(0)}`,
  );
  add('peak RSS, MiB', m[`${small}|peakRssMiB`], m[`${large}|peakRssMiB`], '');
  add('store on disk, MiB', m[`${small}|storeMiB`], m[`${large}|storeMiB`], 'linear in cached entries');
  const table: Table = {
    title: `Scaling — ${small.toLocaleString('en-US')} vs ${large.toLocaleString('en-US')} sources (store: sources × 50 entries, one feed per 10 sources)`,
    columns: ['figure', `${small.toLocaleString('en-US')}`, `${large.toLocaleString('en-US')}`, 'growth', 'expectation'],
    rows,
    notes: ['parsing (bench 3) does not depend on the number of sources and is left out'],
  };
  printTable(table);
  return benchResult('scaling', options, startedAt, [table], {});
}
