// A CPU profile of feedproxy answering one serving case under wrk, for BENCHMARKS.md's diagnosis:
//   npx tsx bench/profile-serving.ts [304|ims|200|gzip|br] [sqlite|redis]
// writes bench/results/profile-serving-<case>-<store>.cpuprofile and prints its summary.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startChild } from './lib/child.js';
import { RESULTS_DIR } from './lib/common.js';
import { deleteRedisPrefix } from '../test/helpers/redis-keys.js';
import { UNLIMITED, publishBenchFeed } from './serving.js';

const kind = process.argv[2] ?? '304';
const store = process.argv[3] ?? 'sqlite';
const redisUrl = process.env.FEEDPROXY_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const redisEnv: Record<string, string> =
  store === 'redis' ? { FEEDPROXY_STORE: redisUrl, FEEDPROXY_STORE_PREFIX: `feedproxy-profile-${process.pid}:` } : {};
const { instance, token } = await publishBenchFeed(1, 200, redisEnv, 200);
await instance.close({ keep: true });
const profileDir = join(instance.dir, 'profile');
mkdirSync(profileDir);
process.env.BENCH_CHILD_EXEC_ARGV = `--cpu-prof --cpu-prof-dir=${profileDir}`;
const { child, ready } = await startChild<{ port: number }>('serve-target.ts', {
  BENCH_SERVE_MODE: 'feedproxy',
  BENCH_STORE_DIR: instance.dir,
  LOG_LEVEL: 'info',
  ...redisEnv,
  ...UNLIMITED,
});
const url = `http://127.0.0.1:${ready.port}/${token}.atom`;
const first = await fetch(url);
await first.arrayBuffer();
const headers =
  kind === '304'
    ? ['-H', `if-none-match: ${first.headers.get('etag')}`]
    : kind === 'ims'
      ? ['-H', `if-modified-since: ${first.headers.get('last-modified')}`]
      : kind === 'gzip' || kind === 'br'
        ? ['-H', `accept-encoding: ${kind}`]
        : [];
execFileSync('wrk', ['-t2', '-c32', '-d8s', ...headers, url], { stdio: 'inherit' });
await child.stop();
const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'))!;
const target = join(RESULTS_DIR, `profile-serving-${kind}-${store}.cpuprofile`);
renameSync(join(profileDir, file), target);
rmSync(instance.dir, { recursive: true, force: true });
if (store === 'redis') await deleteRedisPrefix(redisUrl, redisEnv.FEEDPROXY_STORE_PREFIX!);
execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'summarize-profile.ts'), target, '30'], { stdio: 'inherit' });
