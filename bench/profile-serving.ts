// A CPU profile of one server answering one serving case under wrk, for BENCHMARKS.md's diagnosis:
//   [BENCH_PROFILE_CONNECTIONS=32] npx tsx bench/profile-serving.ts [304|ims|200|gzip|br] [sqlite|redis] [feedproxy|bare|diagnostic]
// `bare` is the case's ceiling (serve-target.ts `bare`, or `bare-precompressed` for gzip and br);
// `diagnostic` the ceiling's route sending feedproxy's headers. Writes
// bench/results/profile-serving-<case>-<store>[-<server>].cpuprofile, prints its summary and the
// server's CPU time per answer (user + system, from /proc: on a shared machine a steadier figure
// than req/s, which follows what the other processes take).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startChild } from './lib/child.js';
import { RESULTS_DIR } from './lib/common.js';
import { processCpuMs, wrkHeadersFor } from './lib/wrk-case.js';
import { deleteRedisPrefix } from '../test/helpers/redis-keys.js';
import { UNLIMITED, publishBenchFeed, writeBareFile } from './serving.js';

const kind = process.argv[2] ?? '304';
const store = process.argv[3] ?? 'sqlite';
const server = process.argv[4] ?? 'feedproxy';
const redisUrl = process.env.FEEDPROXY_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const redisEnv: Record<string, string> =
  store === 'redis' ? { FEEDPROXY_STORE: redisUrl, FEEDPROXY_STORE_PREFIX: `feedproxy-profile-${process.pid}:` } : {};
const { instance, token } = await publishBenchFeed(1, 200, redisEnv, 200);
await instance.close({ keep: true });
const storeEnv = { BENCH_STORE_DIR: instance.dir, ...redisEnv };
const serverEnv: Record<string, string> =
  server === 'feedproxy'
    ? { BENCH_SERVE_MODE: 'feedproxy', LOG_LEVEL: 'info', ...storeEnv, ...UNLIMITED }
    : {
        BENCH_SERVE_MODE:
          server === 'diagnostic' ? 'bare-feedproxy-headers' : kind === 'gzip' || kind === 'br' ? 'bare-precompressed' : 'bare',
        BENCH_BARE_FILE: (await writeBareFile(storeEnv, token, instance.dir)).bareFile,
      };
const profileDir = join(instance.dir, 'profile');
mkdirSync(profileDir);
process.env.BENCH_CHILD_EXEC_ARGV = `--cpu-prof --cpu-prof-dir=${profileDir}`;
const { child, ready } = await startChild<{ port: number }>('serve-target.ts', serverEnv);
const url = `http://127.0.0.1:${ready.port}/${token}.atom`;
const headers = await wrkHeadersFor(kind, url);
const cpuMs = (): number => processCpuMs(child.process.pid!);
const cpuBefore = cpuMs();
// BENCH_PROFILE_CONNECTIONS=1: one request per event-loop turn, what a lone reader's poll costs.
const connections = Number(process.env.BENCH_PROFILE_CONNECTIONS ?? 32);
const output = execFileSync('wrk', [`-t${Math.min(2, connections)}`, `-c${connections}`, '-d8s', ...headers, url], { encoding: 'utf8' });
const cpu = cpuMs() - cpuBefore;
process.stdout.write(output);
const answered = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
await child.stop();
const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'))!;
const target = join(RESULTS_DIR, `profile-serving-${kind}-${store}${server === 'feedproxy' ? '' : `-${server}`}.cpuprofile`);
renameSync(join(profileDir, file), target);
rmSync(instance.dir, { recursive: true, force: true });
if (store === 'redis') await deleteRedisPrefix(redisUrl, redisEnv.FEEDPROXY_STORE_PREFIX!);
console.log(`server CPU: ${cpu} ms for ${answered} answers = ${((cpu * 1000) / answered).toFixed(1)} µs per answer (profiler on)`);
execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'summarize-profile.ts'), target, '30'], { stdio: 'inherit' });
