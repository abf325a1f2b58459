// The bounds every fetch runs under (PRODUCT.md "Fetching limits"): decoded body size, one deadline.
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  hang,
  readFixture,
  redirect,
  repeatBody,
  serveBody,
  slowDrip,
  startUpstream,
  type ContentCoding,
  type StreamStats,
  type Upstream,
} from '../helpers/upstream.js';
import { countZlibStreams, serveGzipLayers } from '../helpers/content-codings.js';
import { makeFetcher } from './harness.js';

const MIB = 1024 * 1024;

let upstream: Upstream;
beforeEach(async () => {
  upstream = await startUpstream();
});
afterEach(async () => {
  await upstream.close();
});

describe('body size cap (decoded bytes)', () => {
  const feed = readFixture('feeds/podcast.rss');

  // RFC 9110 §8.4.1: the codings we advertise must come back decoded, byte for byte.
  const codings: Array<ContentCoding | undefined> = [undefined, 'gzip', 'br', 'deflate', 'deflate-raw'];
  it.each(codings)('decodes Content-Encoding %s under the cap', async (encoding) => {
    upstream.route('/feed', serveBody(feed, { encoding, contentType: 'application/rss+xml' }));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.fetchFeed({ url: upstream.url('/feed') });

    expect(response.kind === 'ok' && response.body.equals(feed)).toBe(true);
  });

  const boundaries: Array<[string, number, 'ok' | 'FP_UPSTREAM_TOO_LARGE']> = [
    ['exactly the cap', 4096, 'ok'],
    ['one byte over', 4097, 'FP_UPSTREAM_TOO_LARGE'],
  ];
  it.each(boundaries)('%s, plain and gzip', async (_name, size, outcome) => {
    const body = Buffer.alloc(size, 'a');
    upstream.route('/plain', serveBody(body));
    upstream.route('/gzip', serveBody(body, { encoding: 'gzip' }));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxBodyBytes: 4096 });
    const outcomeOf = (path: string) =>
      fetcher.fetchFeed({ url: upstream.url(path) }).then(
        (response) => response.kind,
        (error: { code: string }) => error.code,
      );

    expect([await outcomeOf('/plain'), await outcomeOf('/gzip')]).toEqual([outcome, outcome]);
  });

  it('stops a 1 GiB streamed plain body at the cap', async () => {
    const stats: StreamStats = { bytesSent: 0, finished: false };
    upstream.route('/huge', repeatBody(Buffer.alloc(64 * 1024, 'x'), 16 * 1024, { 'content-type': 'application/rss+xml' }, stats));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxBodyBytes: MIB });

    const error = await fetcher.fetchFeed({ url: upstream.url('/huge') }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'FP_UPSTREAM_TOO_LARGE', message: `Upstream body exceeds the limit of ${MIB} bytes` });
    expect(stats.finished).toBe(false);
  });

  it('refuses a declared Content-Length over the cap', async () => {
    upstream.route('/big', serveBody(Buffer.alloc(2 * MIB)));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxBodyBytes: MIB });

    await expect(fetcher.fetchFeed({ url: upstream.url('/big') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TOO_LARGE' });
  });

  it('stops a gzip bomb (40 MB of gzip members, 40 GiB decoded) at the cap', async () => {
    // Concatenated gzip members are one valid gzip stream (RFC 1952 §2.2): a 16 KB member holding
    // 16 MiB of zeros, repeated, makes a bomb without ever holding it in memory.
    const member = zlib.gzipSync(Buffer.alloc(16 * MIB));
    const stats: StreamStats = { bytesSent: 0, finished: false };
    upstream.route('/bomb', repeatBody(member, Math.ceil((40 * MIB) / member.length), { 'content-encoding': 'gzip' }, stats));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxBodyBytes: MIB });

    await expect(fetcher.fetchFeed({ url: upstream.url('/bomb') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TOO_LARGE' });
    expect(stats.finished).toBe(false);
  });

  const bombs: Array<[string, () => Buffer]> = [
    ['br', () => zlib.brotliCompressSync(Buffer.alloc(64 * MIB), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } })],
    ['deflate', () => zlib.deflateSync(Buffer.alloc(16 * MIB))],
  ];
  it.each(bombs)('stops a %s bomb at the cap', async (coding, compress) => {
    const bomb = compress();
    upstream.route('/bomb', (_request, response) => void response.writeHead(200, { 'content-encoding': coding }).end(bomb));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxBodyBytes: MIB });

    await expect(fetcher.fetchFeed({ url: upstream.url('/bomb') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TOO_LARGE' });
    expect(bomb.length).toBeLessThan(MIB); // the cap counted decoded bytes, not the bytes on the wire
  });

  it('caps request() bodies too', async () => {
    upstream.route('/big', serveBody(Buffer.alloc(8192), { encoding: 'br' }));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxBodyBytes: 4096 });

    await expect(fetcher.request({ method: 'GET', url: upstream.url('/big') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TOO_LARGE' });
  });
});

describe('stacked content codings', () => {
  const feed = readFixture('feeds/podcast.rss');

  // RFC 9110 §8.4: an answer lists its codings as applied, each one more decoder to undo it. Servers
  // apply one, a proxy recompressing an answer two; a longer list is refused from the header alone,
  // before a decoder exists (3,200 layers fit in 16 KB of header: 3,200 zlib streams).
  const stacks: Array<[number, 'ok' | 'FP_UPSTREAM_ENCODING', number]> = [
    [1, 'ok', 1],
    [2, 'ok', 2],
    [3, 'FP_UPSTREAM_ENCODING', 0],
    [300, 'FP_UPSTREAM_ENCODING', 0],
  ];
  it.each(stacks)('%i gzip layers: %s, %i zlib streams created', async (layers, outcome, streams) => {
    upstream.route('/stacked', serveGzipLayers(feed, layers));
    const { fetcher } = makeFetcher([upstream.hostPort]);
    const zlibStreams = countZlibStreams();
    try {
      const got = await fetcher.fetchFeed({ url: upstream.url('/stacked') }).then(
        (response) => (response.kind === 'ok' && response.body.equals(feed) ? 'ok' : 'not the feed'),
        (error: { code: string }) => error.code,
      );

      expect([got, zlibStreams.created()]).toEqual([outcome, streams]);
    } finally {
      zlibStreams.stop();
    }
  });

  it('says what it refused, and the same fetcher goes on fetching', async () => {
    upstream.route('/stacked', serveGzipLayers(feed, 300));
    upstream.route('/feed', serveBody(feed, { encoding: 'gzip' }));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const error = await fetcher.fetchFeed({ url: upstream.url('/stacked') }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({
      code: 'FP_UPSTREAM_ENCODING',
      message: 'Upstream answer stacks 300 content codings (Content-Encoding); at most 2 are decoded',
    });
    const next = await fetcher.fetchFeed({ url: upstream.url('/feed') });
    expect(next.kind === 'ok' && next.body.equals(feed)).toBe(true);
  });
});

describe('deadline', () => {
  it('times out an upstream that never answers', async () => {
    upstream.route('/feed', hang());
    const { fetcher } = makeFetcher([upstream.hostPort], { timeoutMs: 300 });

    const error = await fetcher.fetchFeed({ url: upstream.url('/feed?feed_token=s3cr3t') }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'FP_UPSTREAM_TIMEOUT', message: `Upstream timed out: ${upstream.hostPort}` });
  });

  it('times out a body that keeps dripping past the deadline', async () => {
    // Each byte arrives well within any idle timeout; only the overall deadline can stop it.
    upstream.route('/feed', slowDrip(20));
    const { fetcher } = makeFetcher([upstream.hostPort], { timeoutMs: 400 });

    await expect(fetcher.fetchFeed({ url: upstream.url('/feed') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TIMEOUT' });
    expect(upstream.requests).toHaveLength(1);
  });

  it('covers name resolution: a lookup that never answers still ends at the deadline', async () => {
    const { fetcher, targets } = makeFetcher(
      [],
      { timeoutMs: 300, connectTimeoutMs: 60_000 },
      { lookup: () => new Promise(() => undefined) },
    );

    await expect(fetcher.fetchFeed({ url: 'http://slow-dns.example/feed' })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TIMEOUT' });
    expect(targets).toEqual([]);
  });

  // A body we only drain (a redirect's, an error page's) is under the same deadline as a feed's.
  it.each([
    [302, { location: '/elsewhere' }],
    [503, {}],
  ])('times out a %i whose body keeps dripping past the deadline', async (status, headers) => {
    upstream.route('/feed', (_request, response) => {
      response.writeHead(status, headers);
      response.write('<');
      const timer = setInterval(() => response.write(' '), 20);
      response.on('close', () => clearInterval(timer));
    });
    const { fetcher } = makeFetcher([upstream.hostPort], { timeoutMs: 300 });

    await expect(fetcher.fetchFeed({ url: upstream.url('/feed') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TIMEOUT' });
    expect(upstream.requests.map((sent) => sent.url)).toEqual(['/feed']);
  });

  it('covers the whole redirect chain', async () => {
    upstream.route('/a', redirect(302, '/b'));
    upstream.route('/b', hang());
    const { fetcher } = makeFetcher([upstream.hostPort], { timeoutMs: 300 });

    await expect(fetcher.request({ method: 'GET', url: upstream.url('/a') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_TIMEOUT' });
    expect(upstream.requests.map((sent) => sent.url)).toEqual(['/a', '/b']);
  });

  // A WebSub delivery is judged by its status alone (W3C WebSub §7), so a body that trickles in
  // after the status must not turn a 2xx into a timeout; the body is still cut off, not waited out.
  it('keeps the status of a discarded body that keeps dripping past the deadline, and hangs up', async () => {
    let hungUp!: () => void;
    const closed = new Promise<void>((resolve) => (hungUp = resolve));
    upstream.route('/callback', (request, response) => {
      response.on('close', hungUp);
      slowDrip(20)(request, response);
    });
    const { fetcher } = makeFetcher([upstream.hostPort], { timeoutMs: 300 });
    const post = { method: 'POST', url: upstream.url('/callback'), body: 'x' } as const;

    await expect(fetcher.request({ ...post, discardBody: true })).resolves.toMatchObject({ status: 200, body: Buffer.alloc(0) });
    await closed;
    // Positive control: a body that is read is still under the deadline.
    await expect(fetcher.request(post)).rejects.toMatchObject({ code: 'FP_UPSTREAM_TIMEOUT' });
  });
});

describe('unreachable upstreams', () => {
  it('maps a refused connection to FP_UPSTREAM_UNREACHABLE', async () => {
    const closed = await startUpstream();
    const hostPort = closed.hostPort;
    await closed.close();
    const { fetcher } = makeFetcher([hostPort]);

    const error = await fetcher.fetchFeed({ url: `http://${hostPort}/feed?feed_token=s3cr3t` }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'FP_UPSTREAM_UNREACHABLE', message: `Upstream unreachable: ${hostPort} (ECONNREFUSED)` });
  });

  it('maps a reset connection to FP_UPSTREAM_UNREACHABLE', async () => {
    upstream.route('/feed', (_request, response) => void response.socket?.destroy());
    const { fetcher } = makeFetcher([upstream.hostPort]);

    await expect(fetcher.fetchFeed({ url: upstream.url('/feed') })).rejects.toMatchObject({ code: 'FP_UPSTREAM_UNREACHABLE' });
  });

  it('maps an unknown name to FP_UPSTREAM_UNREACHABLE', async () => {
    const { fetcher } = makeFetcher([]);

    await expect(fetcher.fetchFeed({ url: 'http://no-such-host.example/feed' })).rejects.toMatchObject({
      code: 'FP_UPSTREAM_UNREACHABLE',
      message: 'Upstream unreachable: no-such-host.example (ENOTFOUND)',
    });
  });
});
