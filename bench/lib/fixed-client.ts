// A fixed load for measuring a server's CPU per answer (bench/serving-ab.ts `--fixed`): exactly
// `total` requests over `connections` keep-alive sockets, each socket sending its next request when
// the previous answer has arrived whole. Unlike wrk's fixed duration, every run asks the same
// number of answers with the same concurrency, so the server's CPU time over the run (all its
// threads, from /proc, in nanoseconds) divided by `total` compares two servers without the
// machine's speed in the figure. The requests are what wrk sends (request line, Host, the case's
// headers): the same bytes for every server.
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

export interface FixedLoad {
  /** Answers per status code. */
  statuses: Map<number, number>;
  wallMs: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Sends `total` requests for `path` to `port` over `connections` sockets; resolves once all are answered. */
export async function runFixedLoad(
  port: number,
  path: string,
  headers: Record<string, string>,
  total: number,
  connections: number,
): Promise<FixedLoad> {
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`,
  );
  const statuses = new Map<number, number>();
  let sent = 0;
  const started = process.hrtime.bigint();
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket: Socket = connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      let pending: Buffer = Buffer.alloc(0);
      /** Bytes of the current answer's body still to come, or -1 while its head is incomplete. */
      let bodyLeft = -1;
      const next = () => {
        if (sent >= total) {
          socket.end();
          resolve();
          return;
        }
        sent += 1;
        bodyLeft = -1;
        socket.write(request);
      };
      socket.on('connect', next);
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length > 0) {
          if (bodyLeft < 0) {
            const end = pending.indexOf(HEAD_END);
            if (end < 0) return;
            const head = pending.subarray(0, end).toString('latin1');
            const status = Number(head.slice(9, 12));
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
            bodyLeft = status === 304 || status === 204 ? 0 : Number(length?.[1] ?? 0);
            pending = pending.subarray(end + HEAD_END.length);
          }
          const taken = Math.min(bodyLeft, pending.length);
          bodyLeft -= taken;
          pending = pending.subarray(taken);
          if (bodyLeft > 0) return;
          next();
        }
      });
    });
  await Promise.all(Array.from({ length: connections }, one));
  return { statuses, wallMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

/**
 * CPU time (ns) a process's threads have run, from /proc/<pid>/task/<tid>/schedstat (nanoseconds,
 * unlike /proc/<pid>/stat's 10 ms ticks). A thread that exits between two readings takes its time
 * with it; Node's threads (the main one, V8's workers, libuv's pool) live as long as the process.
 */
export function processCpuNs(pid: number): number {
  let total = 0;
  for (const ns of threadCpuNs(pid).values()) total += ns;
  return total;
}

/** CPU time (ns) by thread name (`node` is the event loop; V8's workers, libuv's pool…), threads of one name summed. */
export function threadCpuNs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      byName.set(name, (byName.get(name) ?? 0) + ns);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byName;
}
