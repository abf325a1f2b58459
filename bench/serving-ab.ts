// Side by side on a shared machine: servers answering one serving case, in alternating rounds, with
// each server's CPU time per answer (all its threads, from /proc). CPU per answer moves far less than
// req/s when other processes take the cores, so it is the figure to compare two versions of the code
// by (BENCHMARKS.md, diagnosis 1, sessions 7–8).
//   npx tsx bench/serving-ab.ts <304|ims|200|gzip|br> <rounds> <server>… [--fixed=N] [--connections=C]
// Two loads: by default wrk for BENCH_AB_SECONDS (req/s and p99 beside the CPU); with `--fixed=N`
// exactly N requests over C keep-alive connections (default 32) from bench/lib/fixed-client.ts, each
// connection asking again once answered — the same work for every server, so its CPU per answer is
// the steadiest figure (`--connections=1`: one request per event-loop turn, nothing shared between
// answers). Every answer must be the case's status: a 429 or a 404 would measure nothing.
// A server is `bare` (the case's ceiling), `diagnostic` (the ceiling's route with feedproxy's
// headers), `feedproxy[@<checkout>]`: feedproxy from another checkout's bench/serve-target.ts
// (e.g. `feedproxy@/work/main`), on a copy of the same SQLite store, or `feedproxy-redis[@<checkout>]`:
// the same on Redis (FEEDPROXY_BENCH_REDIS, a key prefix of its own; every Redis server of the run
// shares it, as instances of one deployment do). With `--fixed`, the local redis-server's CPU per
// answer is printed beside each Redis server's (it shares the 2 cores). Not part of `npm run bench`.
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { BENCH_DIR, median } from './lib/common.js';
import { processCpuNs, runFixedLoad, threadCpuNs } from './lib/fixed-client.js';
import { processCpuMs, wrkHeadersFor } from './lib/wrk-case.js';
import { deleteRedisPrefix, isRedisReachable } from '../test/helpers/redis-keys.js';
import { UNLIMITED, publishBenchFeed, writeBareFile } from './serving.js';

const flags = new Map(
  process.argv
    .slice(2)
    .filter((arg) => arg.startsWith('--'))
    .map((arg) => [arg.slice(2).split('=')[0]!, arg.split('=')[1] ?? ''] as const),
);
const [kind = '304', roundsArg = '3', ...specs] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const rounds = Number(roundsArg);
const fixed = flags.has('fixed') ? Number(flags.get('fixed') || 100_000) : undefined;
const connections = Number(flags.get('connections') || 32);
const callgrind = flags.has('callgrind');
const expectedStatus = kind === '304' || kind === 'ims' ? 304 : 200;
const seconds = Number(process.env.BENCH_AB_SECONDS ?? 4);
const { instance, token } = await publishBenchFeed(1, 200, {}, 200);
await instance.close({ keep: true });
const { bareFile } = await writeBareFile({ BENCH_STORE_DIR: instance.dir }, token, instance.dir);
const redisUrl = process.env.FEEDPROXY_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const redisEnv = { FEEDPROXY_STORE: redisUrl, FEEDPROXY_STORE_PREFIX: `feedproxy-ab-${process.pid}:` };
// The same feed on Redis, published once when a Redis server is asked for.
const onRedis =
  specs.some((spec) => spec.startsWith('feedproxy-redis')) && (await isRedisReachable(redisUrl))
    ? await publishBenchFeed(1, 200, redisEnv, 200)
    : undefined;
await onRedis?.instance.close({ keep: true });
/** The local redis-server's pid (its CPU is counted beside a Redis server's), if this user may read it. */
const redisServerPid = readdirSync('/proc')
  .filter((name) => /^\d+$/.test(name))
  .find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'redis-server';
    } catch {
      return false;
    }
  });

interface Server {
  spec: string;
  process: ChildProcess;
  port: number;
  /** The feed's token on this server's store. */
  token: string;
  dir?: string;
}

async function start(spec: string, index: number): Promise<Server> {
  const [name, checkout] = spec.split('@');
  let env: Record<string, string>;
  let dir: string | undefined;
  let served = token;
  if (name === 'feedproxy') {
    dir = `${instance.dir}-${index}`;
    cpSync(instance.dir, dir, { recursive: true });
    env = { BENCH_SERVE_MODE: 'feedproxy', LOG_LEVEL: 'info', BENCH_STORE_DIR: dir, ...UNLIMITED };
  } else if (name === 'feedproxy-redis') {
    if (!onRedis) throw new Error(`${spec}: no Redis at ${redisUrl}`);
    env = { BENCH_SERVE_MODE: 'feedproxy', LOG_LEVEL: 'info', BENCH_STORE_DIR: onRedis.instance.dir, ...redisEnv, ...UNLIMITED };
    served = onRedis.token;
  } else {
    const mode = name === 'diagnostic' ? 'bare-feedproxy-headers' : kind === 'gzip' || kind === 'br' ? 'bare-precompressed' : 'bare';
    env = { BENCH_SERVE_MODE: mode, BENCH_BARE_FILE: bareFile };
  }
  const file = join(checkout ?? join(BENCH_DIR, '..'), 'bench', 'serve-target.ts');
  const options = { cwd: checkout ?? join(BENCH_DIR, '..'), env: { ...process.env, ...env } };
  const child = callgrind
    ? // Instrumented only between `callgrind_control -i on` and `off` (instructions()): start-up and warm-up run uncounted.
      spawn(
        'valgrind',
        [
          '--tool=callgrind',
          '--instr-atstart=no',
          // One count per thread: the event loop's apart from V8's compiler and GC helpers, whose
          // work comes in bursts and moved a whole server's count by 20–45% between rounds.
          '--separate-threads=yes',
          `--callgrind-out-file=${instance.dir}-callgrind-${index}.%p`,
          process.execPath,
          '--import',
          'tsx',
          '--expose-gc',
          file,
        ],
        { ...options, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
      )
    : fork(file, [], { ...options, execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${spec} exited with ${code}`)));
    child.on('message', (message: { ready?: { port: number } }) => message.ready && resolve(message.ready.port));
  });
  return { spec, process: child, port, token: served, ...(dir ? { dir } : {}) };
}

async function load(server: Server, runSeconds: number, warmUp = false): Promise<{ rps: number; p99: string; cpuUs: number }> {
  const url = `http://127.0.0.1:${server.port}/${server.token}.atom`;
  const headers = await wrkHeadersFor(kind, url);
  if (fixed !== undefined) {
    const total = warmUp ? Math.min(fixed, 20_000) : fixed;
    const named = Object.fromEntries(
      headers
        .filter((_, index) => index % 2 === 1)
        .map((header) => [header.slice(0, header.indexOf(':')), header.slice(header.indexOf(':') + 1).trim()]),
    );
    const redisPid = server.spec.startsWith('feedproxy-redis') ? redisServerPid : undefined;
    const redisBefore = redisPid === undefined ? 0 : processCpuNs(Number(redisPid));
    const before = threadCpuNs(server.process.pid!);
    const run = await runFixedLoad(server.port, `/${server.token}.atom`, named, total, connections);
    const after = threadCpuNs(server.process.pid!);
    const redisNs = redisPid === undefined ? 0 : processCpuNs(Number(redisPid)) - redisBefore;
    let cpuNs = 0;
    const threads: string[] = [];
    for (const [name, ns] of after) {
      const spent = ns - (before.get(name) ?? 0);
      cpuNs += spent;
      if (spent / total >= 100) threads.push(`${name} ${(spent / 1000 / total).toFixed(1)}`);
    }
    // redis-server is not the server's CPU (others may use it too), but it runs on the same cores.
    if (redisPid !== undefined) threads.push(`(redis-server ${(redisNs / 1000 / total).toFixed(2)})`);
    // Where the CPU went, by thread (µs an answer): the event loop, or V8's and libuv's helpers.
    if (!warmUp) console.log(`    ${server.spec}: ${threads.join(', ')}`);
    if (run.statuses.get(expectedStatus) !== total)
      throw new Error(`${server.spec}: answers ${JSON.stringify([...run.statuses])}, not ${total} × ${expectedStatus}`);
    return { rps: (total * 1000) / run.wallMs, p99: '—', cpuUs: cpuNs / 1000 / total };
  }
  const before = processCpuMs(server.process.pid!);
  const output = await new Promise<string>((resolve, reject) =>
    execFile('wrk', ['-t2', `-c${connections}`, `-d${runSeconds}s`, '--latency', ...headers, url], (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
  const cpu = processCpuMs(server.process.pid!) - before;
  const answered = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  if (/Non-2xx|Socket errors/.test(output)) throw new Error(`${server.spec}: unexpected answers\n${output}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0),
    p99: /\s99%\s+(\S+)/.exec(output)?.[1] ?? '',
    cpuUs: (cpu * 1000) / answered,
  };
}

/** The case's request headers (as wrk sends them) by name, for the fixed-load client. */
async function caseHeaders(server: Server): Promise<Record<string, string>> {
  const headers = await wrkHeadersFor(kind, `http://127.0.0.1:${server.port}/${server.token}.atom`);
  return Object.fromEntries(
    headers
      .filter((_, index) => index % 2 === 1)
      .map((header) => [header.slice(0, header.indexOf(':')), header.slice(header.indexOf(':') + 1).trim()]),
  );
}

/**
 * Instructions per answer (callgrind's Ir): instrumentation is switched on for exactly `fixed`
 * requests, then the counts are dumped and read, per thread — `main` is the event loop's (thread 1),
 * `all` every thread's, V8's helpers included. Independent of what else the machine runs (about
 * 50× slower than native).
 */
async function instructions(server: Server): Promise<{ main: number; all: number }> {
  const pid = String(server.process.pid!);
  const control = (...args: string[]) =>
    new Promise<void>((resolve, reject) => execFile('callgrind_control', [...args, pid], (error) => (error ? reject(error) : resolve())));
  const named = await caseHeaders(server);
  await control('-i', 'on');
  const total = fixed ?? 10_000;
  const run = await runFixedLoad(server.port, `/${server.token}.atom`, named, total, connections);
  await control('-i', 'off');
  if (run.statuses.get(expectedStatus) !== total) throw new Error(`${server.spec}: answers ${JSON.stringify([...run.statuses])}`);
  const before = new Set(readdirSync(dirname(instance.dir)));
  await control('-d');
  const dumped = readdirSync(dirname(instance.dir)).filter((name) => !before.has(name) && name.includes(`callgrind`) && name.includes(pid));
  let main = 0;
  let all = 0;
  for (const name of dumped) {
    const text = readFileSync(join(dirname(instance.dir), name), 'utf8');
    const ir = Number(/^totals:\s+(\d+)/m.exec(text)?.[1] ?? /^summary:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    all += ir;
    // Files of a dump are named <out>.<pid>.<dump>-<thread>, the event loop's thread being 01.
    if (name.endsWith('-01')) main += ir;
    rmSync(join(dirname(instance.dir), name));
  }
  return { main: main / total, all: all / total };
}

/** Syscalls per answer by name (strace -c -f attached for exactly `fixed` requests): the kernel's side, which callgrind does not count. */
async function syscalls(server: Server): Promise<Map<string, number>> {
  const named = await caseHeaders(server);
  const out = `${instance.dir}-strace-${server.process.pid}`;
  const tracer = spawn('strace', ['-c', '-f', '-o', out, '-p', String(server.process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Attached once strace has said so for the main thread.
  await new Promise<void>((resolve) => tracer.stderr.on('data', (chunk: Buffer) => chunk.toString().includes('attached') && resolve()));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const total = fixed ?? 10_000;
  const run = await runFixedLoad(server.port, `/${server.token}.atom`, named, total, connections);
  const exited = new Promise((resolve) => tracer.once('exit', resolve));
  tracer.kill('SIGINT');
  await exited;
  if (run.statuses.get(expectedStatus) !== total) throw new Error(`${server.spec}: answers ${JSON.stringify([...run.statuses])}`);
  const counts = new Map<string, number>();
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\S+)\s*$/.exec(line);
    if (match) counts.set(match[2]!, Number(match[1]) / total);
  }
  rmSync(out);
  return counts;
}

const servers: Server[] = [];
try {
  for (const [index, spec] of specs.entries()) servers.push(await start(spec, index));
  if (callgrind) {
    // Warm-up uninstrumented (JIT tiers, caches), then one measured batch per round and server.
    for (const server of servers) await runFixedLoad(server.port, `/${server.token}.atom`, {}, 2000, connections);
    for (const server of servers) await load(server, 1, true);
    const counts = new Map<string, Array<{ main: number; all: number }>>();
    const figure = (value: number) => Math.round(value).toLocaleString('en-US').padStart(9);
    for (let round = 0; round < rounds; round++) {
      for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
        const ir = await instructions(server);
        (counts.get(server.spec) ?? counts.set(server.spec, []).get(server.spec)!).push(ir);
        console.log(
          `round ${round} ${server.spec.padEnd(28)} ${figure(ir.main)} instructions/answer on the event loop, ${figure(ir.all)} in all threads`,
        );
      }
    }
    console.log(`\n${kind}, callgrind, ${rounds} rounds of ${fixed ?? 10_000} requests over ${connections} connections, median:`);
    const base = median(counts.get(servers[0]!.spec)!.map((ir) => ir.main));
    for (const server of servers) {
      const main = median(counts.get(server.spec)!.map((ir) => ir.main));
      const all = median(counts.get(server.spec)!.map((ir) => ir.all));
      console.log(
        `  ${server.spec.padEnd(28)} ${figure(main)} instructions/answer on the event loop (${(main / base).toFixed(3)} of the first's), ${figure(all)} in all threads`,
      );
    }
    process.exitCode = 0;
  } else if (flags.has('strace')) {
    for (const server of servers) await load(server, 1, true);
    for (const server of servers) {
      const counts = await syscalls(server);
      console.log(
        `${server.spec}: ${[...counts]
          .sort((a, b) => b[1] - a[1])
          .map(([name, perAnswer]) => `${name} ${perAnswer.toFixed(2)}`)
          .join(', ')} per answer`,
      );
    }
  } else await measureCpu();
} finally {
  for (const server of servers) {
    server.process.kill('SIGTERM');
    if (server.dir) rmSync(server.dir, { recursive: true, force: true });
  }
  rmSync(instance.dir, { recursive: true, force: true });
  if (onRedis) {
    rmSync(onRedis.instance.dir, { recursive: true, force: true });
    await deleteRedisPrefix(redisUrl, redisEnv.FEEDPROXY_STORE_PREFIX);
  }
  for (const name of readdirSync(dirname(instance.dir)))
    if (name.startsWith(`${basename(instance.dir)}-callgrind`)) rmSync(join(dirname(instance.dir), name));
}

async function measureCpu(): Promise<void> {
  for (const server of servers) await load(server, 1, true); // warm-up: JIT, connections, caches
  const results = new Map<string, Array<{ rps: number; p99: string; cpuUs: number }>>();
  for (let round = 0; round < rounds; round++) {
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      const figures = await load(server, seconds);
      (results.get(server.spec) ?? results.set(server.spec, []).get(server.spec)!).push(figures);
      console.log(
        `round ${round} ${server.spec.padEnd(28)} ${figures.rps.toFixed(0).padStart(7)} req/s  p99 ${figures.p99.padStart(7)}  ${figures.cpuUs.toFixed(1)} µs CPU/answer  load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
  }
  console.log(
    `\n${kind}, ${rounds} rounds of ${fixed === undefined ? `${seconds} s of wrk` : `${fixed} requests`} over ${connections} connections, median (load ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}):`,
  );
  const first = results.get(servers[0]!.spec)!;
  const [baseRps, baseCpu] = [median(first.map((run) => run.rps)), median(first.map((run) => run.cpuUs))];
  for (const server of servers) {
    const runs = results.get(server.spec)!;
    const [rps, cpu] = [median(runs.map((run) => run.rps)), median(runs.map((run) => run.cpuUs))];
    console.log(
      `  ${server.spec.padEnd(28)} ${rps.toFixed(0).padStart(7)} req/s (${(rps / baseRps).toFixed(2)})  ${cpu.toFixed(1)} µs CPU/answer (${(baseCpu / cpu).toFixed(2)} of the first's answers per CPU second)`,
    );
  }
}
