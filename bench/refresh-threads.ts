// Where a refresh pass's CPU goes, by thread: bench 2's floor and our pass on the same documents,
// each thread's CPU (user + system, from /proc/self/task/*/stat, Linux only) read around each pass
// and divided by the sources — the main thread, SQLite's statements on libuv's pool
// (`libuv-worker`), V8's GC and compiler helpers (`V8Worker`). Sessions 18–20 of bench/diagnoses.md
// read the split this way; ratios to the floor come from bench 2 and refresh-trees.ts, not from here.
//   npx tsx bench/refresh-threads.ts [200|feeds|304] [sources=300] [rounds=4]
import { readdirSync, readFileSync } from 'node:fs';
import { addFeed } from './lib/instance.js';
import { prepareRefreshInstance, runFloorPass, runOurPass, startBenchUpstream } from './refresh.js';

const mode = process.argv[2] ?? '200';
const count = Number(process.argv[3] ?? 300);
const rounds = Number(process.argv[4] ?? 4);
if (mode !== '200' && mode !== 'feeds' && mode !== '304') throw new Error('mode: 200, feeds or 304');

/** CPU ms of every live thread, summed by thread name (libuv's pool threads share one). */
function cpuByThread(): Map<string, number> {
  const byName = new Map<string, number>();
  for (const task of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after the name: utime and stime are the 12th and 13th, in clock ticks (100 a second).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return byName;
}

function perSource(before: Map<string, number>, after: Map<string, number>, sources: number): string {
  const parts = [...after]
    .map(([name, ms]) => [name, (ms - (before.get(name) ?? 0)) / sources] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1]);
  return parts.map(([name, ms]) => `${name} ${ms.toFixed(3)}`).join(', ');
}

const upstream = await startBenchUpstream();
const { instance, sources } = await prepareRefreshInstance(upstream, count);
try {
  if (mode === 'feeds') {
    const userId = (await instance.deps.registry.listUsers())[0]!.id;
    const ids = sources.map((source) => source.id);
    for (let start = 0; start < ids.length; start += 10) await addFeed(instance.deps, userId, ids.slice(start, start + 10));
  }
  if (mode === '304') await runOurPass(instance, 'settling'); // every source's validators recorded once
  console.log(
    `${mode}, ${count} sources: CPU ms a source by thread (the tick is 10 ms: a thread under ~${(10 / count).toFixed(3)} reads 0)`,
  );
  for (let round = 0; round < rounds; round += 1) {
    if (mode !== '304') await upstream.child.ask({ generation: round + 1 });
    const start = cpuByThread();
    const floor = await runFloorPass(instance, 'floor');
    const between = cpuByThread();
    const ours = await runOurPass(instance, mode);
    const end = cpuByThread();
    console.log(
      `round ${round + 1}: floor ${(floor.cpuMs / floor.sources).toFixed(3)} (${perSource(start, between, floor.sources)}); ` +
        `ours ${(ours.cpuMs / ours.sources).toFixed(3)} (${perSource(between, end, ours.sources)}) ${JSON.stringify(ours.outcomes)}`,
    );
  }
} finally {
  await instance.close();
  await upstream.child.stop();
}
