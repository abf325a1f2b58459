// The all-304 pass alone, for A/B runs of the 304 path: N sources on bench 2's upstream, a warm pass
// and a settling pass, then `passes` rounds of the floor's pass and ours, alternating; prints the
// median CPU a source of each and their ratio (one JSON line). Compare two trees by running it in
// each, alternating, under the bench lock:
//   flock /tmp/bench.lock npx tsx bench/refresh-304.ts [sources=300] [passes=5]
import { prepareRefreshInstance, runFloorPass, runOurPass, startBenchUpstream } from './refresh.js';

const count = Number(process.argv[2] ?? 300);
const passes = Number(process.argv[3] ?? 5);
const upstream = await startBenchUpstream();
const { instance } = await prepareRefreshInstance(upstream, count);
try {
  await runOurPass(instance, 'settle');
  const ours: number[] = [];
  const floors: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    floors.push((await runFloorPass(instance, 'floor')).cpuMs / count);
    ours.push((await runOurPass(instance, 'ours')).cpuMs / count);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const [oursMs, floorMs] = [median(ours), median(floors)];
  console.log(
    JSON.stringify({
      sources: count,
      passes,
      oursMs: +oursMs.toFixed(4),
      floorMs: +floorMs.toFixed(4),
      ratio: +(oursMs / floorMs).toFixed(2),
    }),
  );
} finally {
  await instance.close();
  await upstream.child.stop();
}
