// What the serving profiles (profile-serving.ts, serving-ab.ts) share: the request headers of a
// serving case for wrk, and a process's CPU time from /proc.
import { readFileSync } from 'node:fs';

/** wrk's `-H` arguments for `kind`, from the first answer of the feed URL (its validators). */
export async function wrkHeadersFor(kind: string, url: string): Promise<string[]> {
  const first = await fetch(url);
  await first.arrayBuffer();
  if (kind === '304') return ['-H', `if-none-match: ${first.headers.get('etag')}`];
  if (kind === 'ims') return ['-H', `if-modified-since: ${first.headers.get('last-modified')}`];
  if (kind === 'gzip' || kind === 'br') return ['-H', `accept-encoding: ${kind}`];
  return [];
}

/** A process's user + system CPU time in ms (/proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms). */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
