// Bench 2's changed-document pass (80% 200 + 20% 304), its pass of sources in feeds of 10, or its
// all-304 pass, for two trees in one process, for A/B runs that the other load on the machine moves
// alike: each tree's bench/refresh.ts prepares its own instance (its own store) on one shared
// upstream; then, per round, the floor's pass and each tree's pass on the same documents (the two
// trees in alternating order) — for 200 and feeds a new generation each round (one new entry in four
// sources of five), for 304 the same documents (each tree's pass settled once first). Prints each
// pass's CPU a source, the medians, and the median of branch ÷ base taken pass by pass.
// Export the base tree first (git archive main | tar -x -C /tmp/base; link node_modules), then:
//   flock /tmp/bench.lock npx tsx bench/refresh-trees.ts /tmp/base . [200|feeds|304] [sources=300] [rounds=6]
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

type RefreshBench = typeof import('./refresh.js');
type Instances = typeof import('./lib/instance.js');
const [baseTree, branchTree] = [process.argv[2], process.argv[3]].map((tree) => resolve(tree ?? '.'));
const mode = process.argv[4] ?? '200';
const count = Number(process.argv[5] ?? 300);
const rounds = Number(process.argv[6] ?? 6);
if (mode !== '200' && mode !== 'feeds' && mode !== '304') throw new Error('mode: 200, feeds or 304');
const base = (await import(`${baseTree}/bench/refresh.ts`)) as RefreshBench;
const branch = (await import(`${branchTree}/bench/refresh.ts`)) as RefreshBench;
const baseInstances = (await import(`${baseTree}/bench/lib/instance.ts`)) as Instances;
const branchInstances = (await import(`${branchTree}/bench/lib/instance.ts`)) as Instances;
const upstream = await base.startBenchUpstream();
const a = await base.prepareRefreshInstance(upstream, count);
const b = await branch.prepareRefreshInstance(upstream, count);
const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
const load = () => loadavg()[0]!.toFixed(2);
try {
  if (mode === 'feeds') {
    for (const [tree, { instance, sources }] of [
      [baseInstances, a],
      [branchInstances, b],
    ] as const) {
      const userId = (await instance.deps.registry.listUsers())[0]!.id;
      const ids = sources.map((source) => source.id);
      for (let start = 0; start < ids.length; start += 10) await tree.addFeed(instance.deps, userId, ids.slice(start, start + 10));
    }
  }
  const loadBefore = load();
  const floors: number[] = [];
  const bases: number[] = [];
  const branches: number[] = [];
  const passOf = async (which: 'base' | 'branch') =>
    which === 'base'
      ? bases.push((await base.runOurPass(a.instance, 'base')).cpuMs / count)
      : branches.push((await branch.runOurPass(b.instance, 'branch')).cpuMs / count);
  if (mode === '304') {
    await base.runOurPass(a.instance, 'settle');
    await branch.runOurPass(b.instance, 'settle');
  }
  for (let generation = 1; generation <= rounds; generation++) {
    if (mode !== '304') await upstream.child.ask({ generation });
    floors.push((await base.runFloorPass(a.instance, 'floor')).cpuMs / count);
    for (const which of generation % 2 === 1 ? (['base', 'branch'] as const) : (['branch', 'base'] as const)) await passOf(which);
  }
  const rounded = (values: number[]) => values.map((value) => +value.toFixed(3));
  console.log(JSON.stringify({ mode, sources: count, rounds, floor: rounded(floors), base: rounded(bases), branch: rounded(branches) }));
  const [floorMs, baseMs, branchMs] = [median(floors), median(bases), median(branches)];
  console.log(
    `${mode}: median CPU ms a source: floor ${floorMs.toFixed(3)}, base ${baseMs.toFixed(3)} (${(baseMs / floorMs).toFixed(2)}×), ` +
      `branch ${branchMs.toFixed(3)} (${(branchMs / floorMs).toFixed(2)}×); branch ÷ base pass by pass, median ` +
      `${median(branches.map((ms, index) => ms / bases[index]!)).toFixed(3)}; load average ${loadBefore} → ${load()}`,
  );
} finally {
  await a.instance.close();
  await b.instance.close();
  await upstream.child.stop();
}
