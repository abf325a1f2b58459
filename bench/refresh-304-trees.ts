// The all-304 pass of two trees in one process, for A/B runs that the other load on the machine
// moves alike: each tree's bench/refresh.ts prepares its own instance (its own store) on one shared
// upstream, then `rounds` rounds of the floor's pass and each tree's pass (the two in alternating
// order); prints each pass and the medians, and the median of branch ÷ base taken pass by pass.
// Export the base tree first (git archive main | tar -x -C /tmp/base; link node_modules), then:
//   flock /tmp/bench.lock npx tsx bench/refresh-304-trees.ts /tmp/base . [sources=1000] [rounds=8]
import { resolve } from 'node:path';

type RefreshBench = typeof import('./refresh.js');
const [baseTree, branchTree] = [process.argv[2], process.argv[3]].map((tree) => resolve(tree ?? '.'));
const count = Number(process.argv[4] ?? 1000);
const rounds = Number(process.argv[5] ?? 8);
const base = (await import(`${baseTree}/bench/refresh.ts`)) as RefreshBench;
const branch = (await import(`${branchTree}/bench/refresh.ts`)) as RefreshBench;
const upstream = await base.startBenchUpstream();
const a = await base.prepareRefreshInstance(upstream, count);
const b = await branch.prepareRefreshInstance(upstream, count);
const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
try {
  await base.runOurPass(a.instance, 'settle');
  await branch.runOurPass(b.instance, 'settle');
  const floors: number[] = [];
  const bases: number[] = [];
  const branches: number[] = [];
  const passOf = async (which: 'base' | 'branch') =>
    which === 'base'
      ? bases.push((await base.runOurPass(a.instance, 'base')).cpuMs / count)
      : branches.push((await branch.runOurPass(b.instance, 'branch')).cpuMs / count);
  for (let round = 0; round < rounds; round++) {
    floors.push((await base.runFloorPass(a.instance, 'floor')).cpuMs / count);
    for (const which of round % 2 === 0 ? (['base', 'branch'] as const) : (['branch', 'base'] as const)) await passOf(which);
  }
  const rounded = (values: number[]) => values.map((value) => +value.toFixed(3));
  console.log(JSON.stringify({ sources: count, rounds, floor: rounded(floors), base: rounded(bases), branch: rounded(branches) }));
  const [floorMs, baseMs, branchMs] = [median(floors), median(bases), median(branches)];
  console.log(
    `median CPU ms a source: floor ${floorMs.toFixed(3)}, base ${baseMs.toFixed(3)} (${(baseMs / floorMs).toFixed(2)}×), ` +
      `branch ${branchMs.toFixed(3)} (${(branchMs / floorMs).toFixed(2)}×); branch ÷ base pass by pass, median ${median(branches.map((ms, index) => ms / bases[index]!)).toFixed(3)}`,
  );
} finally {
  await a.instance.close();
  await b.instance.close();
  await upstream.child.stop();
}
