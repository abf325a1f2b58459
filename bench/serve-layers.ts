// The bare app of the serving bench with feedproxy's layers added one at a time, in its own
// process, to tell where a GET's time goes. BENCH_LAYERS is a comma list of:
//  - `security`: registerHttpSecurity (helmet's headers, the rate limiter) as app.ts registers it;
//  - `metrics`: the onResponse hook counting requests, as app.ts adds it;
//  - `logger`: feedproxy's pino logger at LOG_LEVEL (request logging on);
//  - `store`: the two store reads of a public GET (token → feed id, feed id → rendered meta).
// The answer is always the bytes and headers in BENCH_BARE_FILE (as `bare` in serve-target.ts).
import compress from '@fastify/compress';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { registerHttpSecurity } from '../src/http-security.js';
import { answerParent, tellReady } from './lib/child.js';
import { openInstance } from './lib/instance.js';
import type { BareResponse } from './serve-target.js';

const layers = new Set((process.env.BENCH_LAYERS ?? '').split(',').filter(Boolean));
const { body, headers } = JSON.parse(readFileSync(process.env.BENCH_BARE_FILE!, 'utf8')) as BareResponse;
const env = Object.fromEntries(
  Object.entries(process.env).filter(
    (entry): entry is [string, string] => /^(FEEDPROXY_|LOG_LEVEL$)/.test(entry[0]) && entry[1] !== undefined,
  ),
);
const instance = await openInstance({ dir: process.env.BENCH_STORE_DIR!, env });
const { deps } = instance;
const token = process.env.BENCH_TOKEN!;

const app = layers.has('logger')
  ? Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, trustProxy: true })
  : Fastify({ trustProxy: true });
if (layers.has('metrics')) {
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequests.inc({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status: reply.statusCode });
  });
}
await app.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip', 'deflate'] });
if (layers.has('security')) await registerHttpSecurity(app, deps);
app.get('/:file', async (request, reply) => {
  if (layers.has('store')) {
    // What the public route reads: the token and its meta copy, in one round trip.
    if (!(await deps.registry.findPublicToken(token))?.meta) return reply.code(404).send();
  }
  reply.headers(headers).header('vary', 'Origin');
  if (request.headers['if-none-match'] === headers.etag) return reply.code(304).send();
  return reply.send(body);
});
await app.listen({ port: 0, host: '127.0.0.1' });
answerParent(async () => ({}));
tellReady({ port: (app.server.address() as AddressInfo).port });
