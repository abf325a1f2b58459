// Profiles one steady-state refresh pass (bench 2's 80% 200 + 20% 304, then all 304, then sources in
// feeds of 10), only the pass itself (node:inspector), and prints where its CPU goes.
//   npx tsx bench/profile-refresh.ts [sources=500] [200|304|feeds] [floor]
// With `floor`, the floor's pass is profiled instead of ours (the same documents): what of the
// profile is the floor's own work ((program), GC, undici, the parser) shows by the difference.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFeed } from './lib/instance.js';
import { prepareRefreshInstance, runFloorPass, runOurPass, startBenchUpstream } from './refresh.js';
import { summarizeProfile } from './summarize-profile.js';

const count = Number(process.argv[2] ?? 500);
const which = process.argv[3] ?? '200';
const profileFloor = process.argv[4] === 'floor';
const upstream = await startBenchUpstream();
const { instance, sources } = await prepareRefreshInstance(upstream, count);
try {
  if (which === 'feeds') {
    const userId = (await instance.deps.registry.listUsers())[0]!.id;
    const ids = sources.map((source) => source.id);
    for (let start = 0; start < ids.length; start += 10) await addFeed(instance.deps, userId, ids.slice(start, start + 10));
  }
  if (which !== '304') await upstream.child.ask({ generation: 1 });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // Only the profiled pass runs under the profiler: the floor's (then ours after it), or ours.
  if (profileFloor) await session.post('Profiler.start');
  const floor = await runFloorPass(instance, 'floor');
  if (!profileFloor) await session.post('Profiler.start');
  const ours = profileFloor ? undefined : await runOurPass(instance, which);
  const { profile } = await session.post('Profiler.stop');
  const unprofiled = ours ?? (await runOurPass(instance, which));
  const file = join(tmpdir(), `refresh-${which}${profileFloor ? '-floor' : ''}-${Date.now()}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(
    `floor ${(floor.cpuMs / floor.sources).toFixed(2)} ms CPU/source; ours ${(unprofiled.cpuMs / unprofiled.sources).toFixed(2)} (${JSON.stringify(unprofiled.outcomes)}); profile ${file}`,
  );
  for (const line of summarizeProfile(file, 30)) console.log(line);
} finally {
  await instance.close();
  await upstream.child.stop();
}
