// `npm run bench` — every bench, side by side in one run, then BENCHMARKS.md.
//   npm run bench                      full run (about 20 minutes on 2 cores), writes BENCHMARKS.md
//   npm run bench -- --quick           about two minutes, writes bench/results/BENCHMARKS.quick.md
//   npm run bench -- serving parsing   only the named benches (report assembled from saved results)
// Benchmarks are not tests: nothing here fails on a slow figure; a bench that crashes is reported
// and the others still run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, describeMachine, writeResult, type BenchResult, type RunOptions } from './lib/common.js';
import { runMemoryScaleBench } from './memory-scale.js';
import { runMemoryBench } from './memory.js';
import { runParsingBench } from './parsing.js';
import { runRebuildBench } from './rebuild.js';
import { runRefreshBench } from './refresh.js';
import { runScaleOutBench } from './scale-out.js';
import { runScalingBench } from './scaling.js';
import { runServingLayersBench } from './serving-layers.js';
import { runServingBench } from './serving.js';
import { writeReport } from './write-report.js';

const BENCHES: Record<string, (options: RunOptions, fresh: Map<string, BenchResult>) => Promise<BenchResult>> = {
  serving: runServingBench,
  refresh: runRefreshBench,
  parsing: runParsingBench,
  rebuild: runRebuildBench,
  memory: runMemoryBench,
  scaling: runScalingBench,
  'scale-out': runScaleOutBench,
  // Long (the 100,000-source store takes minutes to fill): run only when named.
  'memory-scale': runMemoryScaleBench,
  // A diagnosis of bench 1, run only when named: `npm run bench -- layers`.
  layers: runServingLayersBench,
};
const DEFAULT_BENCHES = ['serving', 'refresh', 'parsing', 'rebuild', 'memory', 'scaling', 'scale-out'];

const args = process.argv.slice(2);
const options: RunOptions = { quick: args.includes('--quick') };
const names = args.filter((arg) => !arg.startsWith('--'));
const unknown = names.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}
const selected = names.length > 0 ? names : DEFAULT_BENCHES;
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const startedAt = new Date();
console.log(`${command} — ${startedAt.toISOString()} — ${JSON.stringify(describeMachine())}`);

const fresh = new Map<string, BenchResult>();
const failures: string[] = [];
for (const name of selected) {
  const started = Date.now();
  console.log(`\n=== ${name} ===`);
  try {
    const result = await BENCHES[name]!(options, fresh);
    fresh.set(name, result);
    console.log(`  (${((Date.now() - started) / 1000).toFixed(0)} s, saved to ${writeResult(result)})`);
  } catch (error) {
    failures.push(name);
    console.error(`bench ${name} crashed:`, error);
  }
}

// A complete run names the report's command and machine; a partial run is listed beside it.
const record = {
  command,
  startedAt: startedAt.toISOString(),
  seconds: (Date.now() - startedAt.getTime()) / 1000,
  machine: describeMachine(),
  benches: selected,
  failures,
};
const runFile = join(RESULTS_DIR, `run${options.quick ? '.quick' : ''}${names.length > 0 ? '.partial' : ''}.json`);
const earlier = names.length > 0 && existsSync(runFile) ? (JSON.parse(readFileSync(runFile, 'utf8')) as Array<typeof record>) : [];
const partials = [...earlier.filter((entry) => entry.benches.some((bench) => !selected.includes(bench))), record];
writeFileSync(runFile, `${JSON.stringify(names.length > 0 ? partials : record, null, 2)}\n`);
const report = writeReport(options.quick);
console.log(
  `\n${report} written (${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s in all)${failures.length > 0 ? `; crashed: ${failures.join(', ')}` : ''}`,
);
