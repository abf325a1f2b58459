// Side by side on a shared machine: servers answering one serving case, in alternating wrk runs, with
// each server's CPU time per answer (user + system of its process, from /proc) beside its req/s. CPU
// per answer moves far less than req/s when other processes take the cores, so it is the figure to
// compare two versions of the code by (BENCHMARKS.md, diagnosis 1, session 7).
//   npx tsx bench/serving-ab.ts <304|ims|200|gzip|br> <rounds> <server>…
// A server is `bare` (the case's ceiling), `diagnostic` (the ceiling's route with feedproxy's
// headers) or `feedproxy[@<checkout>]`: feedproxy from another checkout's bench/serve-target.ts
// (e.g. `feedproxy@/work/main`), on a copy of the same SQLite store. Not part of `npm run bench`.
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, median } from './lib/common.js';
import { processCpuMs, wrkHeadersFor } from './lib/wrk-case.js';
import { UNLIMITED, publishBenchFeed, writeBareFile } from './serving.js';

const [kind = '304', roundsArg = '3', ...specs] = process.argv.slice(2);
const rounds = Number(roundsArg);
const seconds = Number(process.env.BENCH_AB_SECONDS ?? 4);
const { instance, token } = await publishBenchFeed(1, 200, {}, 200);
await instance.close({ keep: true });
const { bareFile } = await writeBareFile({ BENCH_STORE_DIR: instance.dir }, token, instance.dir);

interface Server {
  spec: string;
  process: ChildProcess;
  port: number;
  dir?: string;
}

async function start(spec: string, index: number): Promise<Server> {
  const [name, checkout] = spec.split('@');
  let env: Record<string, string>;
  let dir: string | undefined;
  if (name === 'feedproxy') {
    dir = `${instance.dir}-${index}`;
    cpSync(instance.dir, dir, { recursive: true });
    env = { BENCH_SERVE_MODE: 'feedproxy', LOG_LEVEL: 'info', BENCH_STORE_DIR: dir, ...UNLIMITED };
  } else {
    const mode = name === 'diagnostic' ? 'bare-feedproxy-headers' : kind === 'gzip' || kind === 'br' ? 'bare-precompressed' : 'bare';
    env = { BENCH_SERVE_MODE: mode, BENCH_BARE_FILE: bareFile };
  }
  const child = fork(join(checkout ?? join(BENCH_DIR, '..'), 'bench', 'serve-target.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    cwd: checkout ?? join(BENCH_DIR, '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${spec} exited with ${code}`)));
    child.on('message', (message: { ready?: { port: number } }) => message.ready && resolve(message.ready.port));
  });
  return { spec, process: child, port, ...(dir ? { dir } : {}) };
}

async function load(server: Server, runSeconds: number): Promise<{ rps: number; p99: string; cpuUs: number }> {
  const url = `http://127.0.0.1:${server.port}/${token}.atom`;
  const headers = await wrkHeadersFor(kind, url);
  const before = processCpuMs(server.process.pid!);
  const output = await new Promise<string>((resolve, reject) =>
    execFile('wrk', ['-t2', '-c32', `-d${runSeconds}s`, '--latency', ...headers, url], (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
  const cpu = processCpuMs(server.process.pid!) - before;
  const answered = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  if (/Non-2xx/.test(output)) throw new Error(`${server.spec}: unexpected answers\n${output}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0),
    p99: /\s99%\s+(\S+)/.exec(output)?.[1] ?? '',
    cpuUs: (cpu * 1000) / answered,
  };
}

const servers: Server[] = [];
try {
  for (const [index, spec] of specs.entries()) servers.push(await start(spec, index));
  for (const server of servers) await load(server, 1); // warm-up: JIT, connections, caches
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
  console.log(`\n${kind}, ${rounds} rounds of ${seconds} s, median:`);
  const first = results.get(servers[0]!.spec)!;
  const [baseRps, baseCpu] = [median(first.map((run) => run.rps)), median(first.map((run) => run.cpuUs))];
  for (const server of servers) {
    const runs = results.get(server.spec)!;
    const [rps, cpu] = [median(runs.map((run) => run.rps)), median(runs.map((run) => run.cpuUs))];
    console.log(
      `  ${server.spec.padEnd(28)} ${rps.toFixed(0).padStart(7)} req/s (${(rps / baseRps).toFixed(2)})  ${cpu.toFixed(1)} µs CPU/answer (${(baseCpu / cpu).toFixed(2)} of the first's answers per CPU second)`,
    );
  }
} finally {
  for (const server of servers) {
    server.process.kill('SIGTERM');
    if (server.dir) rmSync(server.dir, { recursive: true, force: true });
  }
  rmSync(instance.dir, { recursive: true, force: true });
}
