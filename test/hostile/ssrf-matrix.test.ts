// Issue 7, SSRF: every private, loopback and odd address form, every non-web scheme and every
// credentialed URL, through the API — refused with 400 at creation, and as a failed refresh when a
// source that worked starts redirecting there. A canary listens on loopback (IPv4 and IPv6, one
// port) and must see no connection at all. The guard itself is unit-tested in test/fetch/ssrf.test.ts
// and test/fetch/guard.test.ts; this file proves the API path uses it for every form.
//
// Nothing here can leave the machine even if the guard broke: the connect seam refuses every
// non-loopback address and names resolve from a table (harness.ts). ssrf-netns.test.ts runs this
// file again inside a network namespace that has only loopback.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redirect, serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';
import { expectSafeErrorBody, isLoopback, startHostileApp, type HostileApp } from './harness.js';

const PUBLIC = '93.184.216.34';
const REFUSED_CODES = ['FP_FORBIDDEN_ADDRESS', 'FP_INVALID_URL'];

let canaryPort = 0;
let canaryConnections = 0;
const canaries: Server[] = [];

async function listen(server: Server, port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** A server on 127.0.0.1 and, where the machine has IPv6, on ::1 with the same port. */
async function startCanary(): Promise<void> {
  const make = () => {
    const server = createServer((_request, response) => response.end('<rss version="2.0"><channel><title>canary</title></channel></rss>'));
    server.on('connection', () => (canaryConnections += 1));
    canaries.push(server);
    return server;
  };
  canaryPort = (await listen(make(), 0, '127.0.0.1'))!;
  await listen(make(), canaryPort, '::1');
}

/** Every form of a forbidden target, as a source URL or a redirect Location. */
function forbiddenTargets(c: number, upstreamPort: number): string[] {
  return [
    // loopback, in every spelling the WHATWG parser accepts
    `http://127.0.0.1:${c}/feed`,
    `http://127.1:${c}/feed`,
    `http://127.255.255.254:${c}/feed`,
    `http://0.0.0.0:${c}/feed`,
    `http://0:${c}/feed`,
    `http://2130706433:${c}/feed`,
    `http://0x7f000001:${c}/feed`,
    `http://0x7f.0.0.1:${c}/feed`,
    `http://017700000001:${c}/feed`,
    `http://0177.0.0.01:${c}/feed`,
    `http://[::1]:${c}/feed`,
    `http://[0:0:0:0:0:0:0:1]:${c}/feed`,
    `http://[::]:${c}/feed`,
    `http://[::ffff:127.0.0.1]:${c}/feed`,
    `http://[::ffff:7f00:1]:${c}/feed`,
    `http://[::127.0.0.1]:${c}/feed`,
    `https://127.0.0.1:${c}/feed`,
    `http://localhost:${c}/feed`,
    `http://LOCALHOST.:${c}/feed`,
    `http://loopback.example:${c}/feed`,
    // link-local and cloud metadata
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[::ffff:169.254.169.254]/latest/meta-data/',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
    'http://[64:ff9b::a9fe:a9fe]/latest/meta-data/',
    'http://[fe80::1]/feed',
    'http://metadata.example/computeMetadata/v1/',
    // private, CGNAT, unique-local
    'http://10.0.0.1/feed',
    'http://10.255.255.254:8080/feed',
    'http://172.16.0.1/feed',
    'http://172.31.255.254/feed',
    'http://192.168.0.1/feed',
    'http://192.168.255.254:8443/feed',
    'http://100.64.0.1/feed',
    'http://100.127.255.254/feed',
    'http://[fc00::1]/feed',
    'http://[fdff:ffff:ffff::1]/feed',
    'http://[2002:c0a8:101::1]/feed', // 6to4 of 192.168.1.1
    'http://private.example/feed',
    'http://mixed.example/feed',
    // schemes we never fetch
    'file:///etc/passwd',
    'file://localhost/etc/passwd',
    `ftp://127.0.0.1:${c}/feed.xml`,
    `gopher://127.0.0.1:${c}/_GET%20/%20HTTP/1.0%0D%0A%0D%0A`,
    `dict://127.0.0.1:${c}/info`,
    'data:application/rss+xml,%3Crss%20version%3D%222.0%22%3E%3C%2Frss%3E',
    'javascript:alert(1)',
    `ws://127.0.0.1:${c}/`,
    // credentials, even towards an allowed host
    `http://user:pass@127.0.0.1:${upstreamPort}/feed`,
    `http://user@127.0.0.1:${upstreamPort}/feed`,
    `http://:pass@127.0.0.1:${upstreamPort}/feed`,
  ];
}

const DNS = {
  'loopback.example': ['127.0.0.1'],
  'localhost.': ['127.0.0.1'],
  'metadata.example': ['169.254.169.254'],
  'private.example': ['10.1.2.3'],
  'mixed.example': [PUBLIC, '192.168.1.1'],
};

describe('SSRF through the API', () => {
  let upstream: Upstream;
  let t: HostileApp;
  let key: string;
  let rebindCalls = 0;
  let tried = 0;

  beforeAll(async () => {
    await startCanary();
    upstream = await startUpstream({
      '/feed': serveFixture('feeds/netflix-queue.atom'),
      '/moving': serveFixture('feeds/netflix-queue.atom'),
    });
    t = await startHostileApp(
      { ...DNS, 'rebind.example': () => (rebindCalls++ === 0 ? [PUBLIC] : ['127.0.0.1']) },
      { allowPrivate: [upstream.hostPort] },
    );
    key = await t.createUserKey();
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
    await Promise.all(canaries.map((server) => new Promise((resolve) => server.close(resolve))));
    // Stated in SECURITY.md: the count of URLs this matrix tries.
    console.info(`ssrf-matrix: ${tried} URLs tried through the API`);
  });

  if (process.env.FEEDPROXY_TEST_NETNS === '1') {
    it('runs in a network namespace with loopback only', () => {
      expect(Object.keys(networkInterfaces())).toEqual(['lo']);
    });
  }

  it('refuses every form at creation with a coded 400, stores nothing, fetches nothing', async () => {
    const targets = forbiddenTargets(canaryPort, upstream.port);
    for (const url of targets) {
      const response = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
      tried += 1;
      expect(response.statusCode, url).toBe(400);
      expect(REFUSED_CODES, url).toContain(expectSafeErrorBody(response.body).error);
    }
    expect((await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json()).toEqual({ sources: [] });
    expect(upstream.requests).toEqual([]);
  });

  it('refuses a creation whose allowed upstream redirects to a private target', async () => {
    const locations = [
      `http://127.0.0.1:${canaryPort}/admin`,
      'http://169.254.169.254/latest/meta-data/',
      'file:///etc/passwd',
      `http://[::1]:${canaryPort}/`,
    ];
    for (const [index, location] of locations.entries()) {
      upstream.route(`/hop${index}`, redirect(302, location));
      const response = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/hop${index}`) } });
      tried += 1;
      expect(response.statusCode, location).toBe(400);
      expect(REFUSED_CODES, location).toContain(expectSafeErrorBody(response.body).error);
    }
  });

  it('fails the refresh of a working source that starts redirecting to any forbidden form', async () => {
    const created = await t.api(key, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url('/moving?feed_token=tok-123') },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    for (const target of forbiddenTargets(canaryPort, upstream.port)) {
      upstream.route('/moving', redirect(302, target));
      const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
      tried += 1;
      expect(refreshed.statusCode, target).toBe(200);
      expect(['stale', 'failing'], target).toContain(refreshed.json().status);
      const source = await t.deps.registry.getSource(id);
      expect(REFUSED_CODES, `${target}: ${source?.lastError}`).toContain(source?.lastErrorCode);
    }
  });

  it('checks the address actually connected to: DNS rebinding between two hops gets nowhere', async () => {
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const id = created.json().id as string;
    upstream.route('/feed', redirect(302, `http://rebind.example:${canaryPort}/feed`));
    // First answer public: the guard approves it and the test connector refuses the public address.
    const first = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect((await t.deps.registry.getSource(id))?.lastErrorCode).toBe('FP_UPSTREAM_UNREACHABLE');
    // Every later answer is loopback: refused before any connect.
    const second = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    tried += 2;
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect((await t.deps.registry.getSource(id))?.lastErrorCode).toBe('FP_FORBIDDEN_ADDRESS');
    const rebindTargets = t.targets.filter((target) => target.hostname === 'rebind.example');
    expect(rebindTargets.map((target) => target.address)).toEqual([PUBLIC]);
  });

  it('let nothing reach the canary, and approved nothing on loopback but the allowed upstream', () => {
    expect(canaryConnections).toBe(0);
    const loopbackTargets = t.targets.filter((target) => isLoopback(target.address));
    expect(loopbackTargets.every((target) => target.port === upstream.port)).toBe(true);
    expect(tried).toBeGreaterThan(100);
  });
});
