// Issue 18 finding 3, measured: one user's heavy work against another user's public GET.
// `npx tsx bench/one-user.ts [preview|creates|store]` (loopback only; a temp SQLite store).
//   preview: ten sources of a ~15 MB Atom document, then a preview with 50 heavy rules while another
//            user's public feed is fetched every 50 ms: the preview's time, the other GET's worst wait
//            and the longest event-loop block (perf_hooks.monitorEventLoopDelay).
//   creates: resident memory before and at its peak while 16 such sources are created at once.
//   store:   bytes the store file grew by per such source.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startTestApp } from '../test/helpers/app.js';
import { serveBody, startUpstream } from '../test/helpers/upstream.js';

const ENTRY_TEXT = 'lorem ipsum dolor sit amet consectetur adipiscing elit '.repeat(540); // ~30 KB
function heavyAtom(entries = 500): string {
  const items: string[] = [];
  for (let n = 0; n < entries; n += 1) {
    const date = new Date(Date.UTC(2026, 0, 1) + n * 60_000).toISOString();
    items.push(
      `<entry><id>urn:e:${n}</id><title>Entry ${n}</title><link href="https://example.org/${n}"/><updated>${date}</updated><content type="html">&lt;p&gt;${ENTRY_TEXT}&lt;/p&gt;</content></entry>`,
    );
  }
  return `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:heavy</id><title>Heavy</title><updated>2026-01-01T00:00:00Z</updated>${items.join('')}</feed>`;
}
/** Linear-time but long: each one scans every field to its end without matching. */
const HEAVY_RULES = Array.from({ length: 50 }, (_, n) => `/(a|b|c|d|e)+z${n}q$/`);

const mode = process.argv[2] ?? 'preview';
const body = heavyAtom();
const upstream = await startUpstream({
  '/heavy': serveBody(body, { contentType: 'application/atom+xml' }),
  '/small': serveBody(heavyAtom(3), { contentType: 'application/atom+xml' }),
});
const t = await startTestApp({
  allowPrivate: [upstream.hostPort],
  env: { LOG_LEVEL: 'silent', FEEDPROXY_API_RATE_LIMIT: '100000', ...JSON.parse(process.env.BENCH_ENV ?? '{}') },
});
await t.app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
console.log(`document: ${mb(body.length)}`);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a measurement script reads whatever comes back
async function api(key: string, method: string, path: string, payload?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(payload ? { body: JSON.stringify(payload) } : {}),
  });
  return { status: response.status, json: await response.json().catch(() => undefined) };
}

const heavy = await t.createUserKey('heavy');
if (mode === 'preview') {
  const ids: string[] = [];
  for (let n = 0; n < 10; n += 1) {
    const created = await api(heavy, 'POST', '/sources', { url: upstream.url(`/heavy?n=${n}`) });
    if (created.status !== 201) throw new Error(`create ${created.status} ${JSON.stringify(created.json)}`);
    ids.push(created.json.id);
  }
  const other = await t.createUserKey('other');
  const small = await api(other, 'POST', '/sources', { url: upstream.url('/small') });
  const feed = await api(other, 'POST', '/feeds', { title: 'Other', sources: [small.json.id] });
  const publicUrl = new URL(feed.json.urls.atom).pathname;
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let running = true;
  let worstGet = 0;
  const getter = (async () => {
    while (running) {
      const start = performance.now();
      await (await fetch(`${base}${publicUrl}`)).arrayBuffer();
      worstGet = Math.max(worstGet, performance.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const start = performance.now();
  const preview = await api(heavy, 'POST', '/feeds/preview', { sources: ids, include: HEAVY_RULES, exclude: HEAVY_RULES.slice(0, 0) });
  const took = performance.now() - start;
  running = false;
  await getter;
  histogram.disable();
  console.log(
    `preview: ${preview.status} in ${took.toFixed(0)} ms; other user's worst GET ${worstGet.toFixed(0)} ms; longest event-loop block ${(histogram.max / 1e6).toFixed(0)} ms`,
  );
} else if (mode === 'creates') {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const results = await Promise.all(
    Array.from({ length: 16 }, (_, n) => api(heavy, 'POST', '/sources', { url: upstream.url(`/heavy?c=${n}`) })),
  );
  histogram.disable();
  clearInterval(timer);
  const statuses = results.reduce<Record<number, number>>(
    (counts, result) => ({ ...counts, [result.status]: (counts[result.status] ?? 0) + 1 }),
    {},
  );
  console.log(
    `16 concurrent creates: statuses ${JSON.stringify(statuses)}; rss ${mb(before)} → peak ${mb(peak)}; longest event-loop block ${(histogram.max / 1e6).toFixed(0)} ms`,
  );
} else {
  const file = join(t.dir, 'feedproxy.sqlite');
  const size = () => statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  await api(heavy, 'POST', '/sources', { url: upstream.url('/heavy?warm') });
  const before = size();
  for (let n = 0; n < 3; n += 1) await api(heavy, 'POST', '/sources', { url: upstream.url(`/heavy?s=${n}`) });
  console.log(`store: ${mb((size() - before) / 3)} per heavy source`);
}
await t.close();
await upstream.close();
process.exit(0);
