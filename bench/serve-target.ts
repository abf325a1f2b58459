// A server under load, in its own process. BENCH_SERVE_MODE:
//  - `feedproxy`: the real app (createDeps + buildApp, no scheduler) on the store in BENCH_STORE_DIR,
//    configured by the usual FEEDPROXY_* / LOG_LEVEL variables;
//  - `bare`: the ceiling — a bare Fastify 5 app, no plugins, answering the body in BENCH_BARE_FILE
//    from a Buffer for any `/<token>.<format>`, with its ETag, Last-Modified, Content-Type and
//    Cache-Control, and 304 on a matching If-None-Match or an If-Modified-Since equal to Last-Modified;
//  - `bare-precompressed`: the same, answering gzip or br bytes made once at start (the ceiling for
//    compressed answers);
//  - `bare-feedproxy-headers`: a diagnostic, not a ceiling — `bare-precompressed` sending feedproxy's
//    exact header set of each answer (200 and 304), through Fastify's reply as any route would: what
//    the header count costs.
// It also answers the memory bench's questions about itself over IPC.
import Fastify, { type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { buildApp } from '../src/app.js';
import { applyHeapGrowth } from '../src/heap-growth.js';
import { rebuildFeed } from '../src/publish/rebuild-feed.js';
import { answerParent, tellReady } from './lib/child.js';
import { generateCachedEntries } from './lib/corpus.js';
import { openInstance, type BenchInstance } from './lib/instance.js';

export interface BareResponse {
  body: string;
  /** The 200's headers that are not per connection or per coding. */
  headers: Record<string, string>;
  /** feedproxy's whole header set of a 200 (its vary included) and of a 304, for the diagnostic mode. */
  feedproxyHeaders?: { ok: Record<string, string>; notModified: Record<string, string> };
}

export interface MemorySample {
  rssMiB: number;
  maxRssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
}

function sampleMemory(): MemorySample {
  global.gc?.();
  const usage = process.memoryUsage();
  return {
    rssMiB: usage.rss / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    heapUsedMiB: usage.heapUsed / 2 ** 20,
    externalMiB: (usage.external + usage.arrayBuffers) / 2 ** 20,
  };
}

const mode = process.env.BENCH_SERVE_MODE ?? 'feedproxy';
let instance: BenchInstance | undefined;
let app: FastifyInstance;

if (mode === 'feedproxy') {
  // The parent configures the instance the way an operator would: FEEDPROXY_* and LOG_LEVEL.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => /^(FEEDPROXY_|LOG_LEVEL$)/.test(entry[0]) && entry[1] !== undefined,
    ),
  );
  instance = await openInstance({ dir: process.env.BENCH_STORE_DIR!, env });
  applyHeapGrowth(instance.deps.config.memory.heapGrowthPercent); // as `feedproxy serve` does
  app = await buildApp(instance.deps);
} else {
  const { body, headers, feedproxyHeaders } = JSON.parse(readFileSync(process.env.BENCH_BARE_FILE!, 'utf8')) as BareResponse;
  const identity = Buffer.from(body);
  const gzipped = gzipSync(identity, { level: 9 });
  const brotli = brotliCompressSync(identity, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 20 } });
  const { etag = '', 'last-modified': lastModified = '', 'content-type': contentType = '', 'cache-control': cacheControl = '' } = headers;
  const same = { etag, 'last-modified': lastModified, 'content-type': contentType, 'cache-control': cacheControl };
  const precompressed = mode !== 'bare';
  const okHeaders = mode === 'bare-feedproxy-headers' ? feedproxyHeaders!.ok : same;
  const notModifiedHeaders = mode === 'bare-feedproxy-headers' ? feedproxyHeaders!.notModified : same;
  app = Fastify();
  app.get('/:file', (request, reply) => {
    if (request.headers['if-none-match'] === etag || request.headers['if-modified-since'] === lastModified)
      return reply.headers(notModifiedHeaders).code(304).send();
    reply.headers(okHeaders);
    if (precompressed) {
      const accept = request.headers['accept-encoding'] ?? '';
      if (accept.includes('br')) return reply.header('content-encoding', 'br').send(brotli);
      if (accept.includes('gzip')) return reply.header('content-encoding', 'gzip').send(gzipped);
    }
    return reply.send(identity);
  });
}
// Every server, the ceiling included, takes a load client's 1,000 connections opened at once:
// with Node's default backlog (511) the kernel drops the rest's handshakes (ListenOverflows) and
// their first request waits out a SYN retransmit (1 s, then 3 s) — the connection storm's cost, not
// serving's (BENCHMARKS.md, diagnosis 1, session 9).
await app.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });

answerParent(async (message) => {
  if (message.memory) return sampleMemory();
  if (!instance) return {};
  const { deps } = instance;
  if (message.touchAll) {
    // What a scheduler tick and a refresh pass read: every source record, then each cache in turn.
    const sources = await deps.registry.listAllSources();
    let entries = 0;
    for (const source of sources) entries += (await deps.registry.getEntries(source.id)).length;
    return { sources: sources.length, entries, memory: sampleMemory() };
  }
  if (typeof message.rebuildFeedId === 'string') {
    // One source of the feed gets a new entry; the feed is rebuilt as refreshSource() would.
    const feed = (await deps.registry.getFeed(message.rebuildFeedId))!;
    const sourceId = feed.sourceIds[0]!;
    const cached = await deps.registry.getEntries(sourceId);
    const fresh = generateCachedEntries(sourceId, 1, 600, 100_000 + Number(message.round ?? 0))[0]!;
    await deps.registry.saveEntries(sourceId, [fresh, ...cached]);
    const started = process.hrtime.bigint();
    await rebuildFeed(deps, feed.id);
    return { ms: Number(process.hrtime.bigint() - started) / 1e6 };
  }
  return {};
});
tellReady({ port: (app.server.address() as AddressInfo).port, memory: sampleMemory() });
