// Running feedproxy as users do — a real process from the build that test/global-setup.ts made —
// and the small waits such tests need.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** `spawn(process.execPath, [...CLI_ARGS, 'serve'], { cwd: ROOT })` runs `feedproxy serve`. */
export const CLI_ARGS = ['dist/cli.js'];

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `feedproxy ARGS…` to completion with `env` added to this process's environment. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return runProcess(process.execPath, [...CLI_ARGS, ...args], env);
}

/**
 * Runs `feedproxy ARGS…` on a terminal of its own (util-linux `script` gives it a pseudo-terminal),
 * as a user at a shell does: what it prints only to a terminal shows. Its output and stderr arrive
 * together, with the terminal's CRLF line ends.
 */
export function runCliOnTerminal(args: string[], env: Record<string, string>): Promise<CliRun> {
  const command = [process.execPath, ...CLI_ARGS, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  return runProcess('script', ['-qec', command, '/dev/null'], env);
}

function runProcess(file: string, args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds; fails naming `what` after `deadlineMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 30_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until `base`/readyz answers 200. */
export function waitReady(base: string, deadlineMs = 30_000): Promise<void> {
  return waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok === true, `${base} to be ready`, deadlineMs, 100);
}

/** Pino lines at error (50) or fatal (60) in a process's output. */
export const errorLines = (output: string) => output.split('\n').filter((line) => /"level":(50|60)\b/.test(line));
