// Profiles one steady-state refresh pass (bench 2's 80% 200 + 20% 304, then all 304, then sources in
// feeds of 10), only the pass itself (node:inspector), and prints where its CPU goes.
//   npx tsx bench/profile-refresh.ts [sources=500] [200|304|feeds]
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFeed } from './lib/instance.js';
import { prepareRefreshInstance, runFloorPass, runOurPass, startBenchUpstream } from './refresh.js';
import { summarizeProfile } from './summarize-profile.js';

const count = Number(process.argv[2] ?? 500);
const which = process.argv[3] ?? '200';
const upstream = await startBenchUpstream();
const { instance, sources } = await prepareRefreshInstance(upstream, count);
try {
  if (which === 'feeds') {
    const userId = (await instance.deps.registry.listUsers())[0]!.id;
    const ids = sources.map((source) => source.id);
    for (let start = 0; start < ids.length; start += 10) await addFeed(instance.deps, userId, ids.slice(start, start + 10));
  }
  if (which !== '304') await upstream.child.ask({ generation: 1 });
  const floor = await runFloorPass(instance, 'floor');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const ours = await runOurPass(instance, which);
  const { profile } = await session.post('Profiler.stop');
  const file = join(tmpdir(), `refresh-${which}-${Date.now()}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(
    `floor ${(floor.cpuMs / floor.sources).toFixed(2)} ms CPU/source; ours ${(ours.cpuMs / ours.sources).toFixed(2)} (${JSON.stringify(ours.outcomes)}); profile ${file}`,
  );
  for (const line of summarizeProfile(file, 30)) console.log(line);
} finally {
  await instance.close();
  await upstream.child.stop();
}
