// The upstream of the refresh bench, run in its own process: `ports` node:http servers on
// 127.0.0.1 (each port is one upstream "host", so per-host limits act as they do in the wild)
// serving realistic feeds of varied size and format. Source i serves template i % templates.
// One source in five never changes and answers 304 to its validator; the others change when the
// parent bumps the generation (one new entry, one dropped), and answer 304 until it does. Told
// `{ validators: false }`, every source answers 200 with its current bytes and no ETag, as an
// upstream without conditional GET does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerParent, tellReady } from './lib/child.js';
import { generateFeed, type CorpusFormat } from './lib/corpus.js';

export interface UpstreamReady {
  hostPorts: string[];
  templates: Array<{ format: CorpusFormat; entries: number; bytes: number }>;
}

const PORTS = Number(process.env.BENCH_UPSTREAM_PORTS ?? 16);
const TEMPLATES = 40;
const CONTENT_TYPES: Record<CorpusFormat, string> = {
  rss: 'application/rss+xml; charset=utf-8',
  atom: 'application/atom+xml; charset=utf-8',
  rdf: 'application/rdf+xml; charset=utf-8',
  json: 'application/feed+json; charset=utf-8',
};

/** Formats and sizes as a reader's subscriptions have them: mostly RSS, small to a few hundred KB. */
function templateSpec(k: number): { format: CorpusFormat; entries: number; bodyBytes: number } {
  const format: CorpusFormat = k % 20 === 0 ? 'rdf' : k % 10 === 1 ? 'json' : k % 4 === 2 ? 'atom' : 'rss';
  const entries = [10, 20, 25, 50, 100][k % 5]!;
  const bodyBytes = [200, 600, 1500, 3000][(k >> 1) % 4]!;
  return { format, entries, bodyBytes };
}

const bodies = new Map<string, Buffer>();
function bodyOf(k: number, generation: number): Buffer {
  const key = `${k}:${generation}`;
  let body = bodies.get(key);
  if (!body) {
    const spec = templateSpec(k);
    body = Buffer.from(generateFeed({ ...spec, name: `t${k}`, offset: generation }));
    bodies.set(key, body);
    bodies.delete(`${k}:${generation - 2}`);
  }
  return body;
}

let generation = 0;
let validators = true;
let requests = 0;
/** Requests per feed index since the last `resetCounts`: which sources were fetched, how often. */
let countsByIndex = new Map<number, number>();

function handle(request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse): void {
  requests += 1;
  const match = /^\/f\/(\d+)/.exec(request.url ?? '');
  if (!match) {
    response.writeHead(404, { 'content-length': '0' }).end();
    return;
  }
  const index = Number(match[1]);
  countsByIndex.set(index, (countsByIndex.get(index) ?? 0) + 1);
  const k = index % TEMPLATES;
  const stable = index % 5 === 0;
  const servedGeneration = stable ? 0 : generation;
  const etag = stable ? `"s${k}"` : `"g${generation}-${k}"`;
  if (validators && request.headers['if-none-match'] === etag) {
    response.writeHead(304, { etag, 'cache-control': 'max-age=60' }).end();
    return;
  }
  const body = bodyOf(k, servedGeneration);
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[templateSpec(k).format],
    'content-length': String(body.length),
    ...(validators ? { etag } : {}),
    'cache-control': 'max-age=60',
  });
  response.end(body);
}

const servers: Server[] = [];
for (let i = 0; i < PORTS; i++) {
  const server = createServer(handle);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
}

answerParent(async (message) => {
  if (typeof message.validators === 'boolean') validators = message.validators;
  if (typeof message.generation === 'number') {
    generation = message.generation;
    for (let k = 0; k < TEMPLATES; k++) bodyOf(k, generation);
  }
  if (message.stats) return { requests };
  if (message.resetCounts) countsByIndex = new Map();
  if (message.counts) return { counts: [...countsByIndex] };
  return { generation };
});
for (let k = 0; k < TEMPLATES; k++) bodyOf(k, 0);
tellReady({
  hostPorts: servers.map((server) => `127.0.0.1:${(server.address() as AddressInfo).port}`),
  templates: Array.from({ length: TEMPLATES }, (_, k) => ({
    format: templateSpec(k).format,
    entries: templateSpec(k).entries,
    bytes: bodyOf(k, 0).length,
  })),
} satisfies UpstreamReady);
