// Runs a bench TypeScript file in its own Node process (through tsx), so a server under load and
// the load generator, or an upstream and the refresher, do not share one event loop — and so the
// memory of one instance is measured alone. Parent and child talk over the IPC channel.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BENCH_DIR } from './common.js';

export interface Child {
  process: ChildProcess;
  /** Sends a request and resolves with the child's answer to it. */
  ask<T = unknown>(message: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

let nextId = 1;

/** The node flags `npm start` and the image start the service with (test/deploy.test.ts keeps the three alike). */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=16'];

/** Starts `bench/<file>` and resolves once it sends `{ready: …}`, with that payload. */
export async function startChild<Ready>(
  file: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ child: Child; ready: Ready }> {
  // A .mjs file is the service as built, run as `npm start` runs it (its node flags; no loader thread
  // in a process whose memory is measured).
  const loader = file.endsWith('.mjs') ? SERVICE_NODE_FLAGS : ['--import', 'tsx', '--expose-gc'];
  const processHandle = fork(join(BENCH_DIR, file), args, {
    execArgv: [...loader, ...(process.env.BENCH_CHILD_EXEC_ARGV?.split(' ').filter(Boolean) ?? [])],
    env: { ...process.env, ...env },
    // The server's own log lines (pino, stdout) go nowhere: the bench measures, it does not read them.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (value: unknown) => void>();
  const ready = new Promise<Ready>((resolve, reject) => {
    processHandle.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
    processHandle.on('message', (message: { ready?: Ready; id?: number; answer?: unknown }) => {
      if (message.ready !== undefined) resolve(message.ready);
      if (message.id !== undefined) {
        pending.get(message.id)?.(message.answer);
        pending.delete(message.id);
      }
    });
  });
  const child: Child = {
    process: processHandle,
    ask<T>(message: Record<string, unknown>) {
      const id = nextId++;
      return new Promise<T>((resolve) => {
        pending.set(id, resolve as (value: unknown) => void);
        processHandle.send({ ...message, id });
      });
    },
    async stop() {
      if (processHandle.exitCode !== null) return;
      const exited = new Promise((resolve) => processHandle.once('exit', resolve));
      processHandle.kill('SIGTERM');
      await exited;
    },
  };
  return { child, ready: await ready };
}

/** In a child: answers each request of the parent with `handle`'s result. */
export function answerParent(handle: (message: Record<string, unknown>) => Promise<unknown>): void {
  process.on('message', (message: Record<string, unknown> & { id: number }) => {
    void handle(message).then(
      (answer) => process.send?.({ id: message.id, answer }),
      (error: unknown) => process.send?.({ id: message.id, answer: { error: String((error as Error)?.stack ?? error) } }),
    );
  });
  process.once('SIGTERM', () => process.exit(0));
}

export function tellReady(payload: unknown): void {
  process.send?.({ ready: payload });
}
