// The SSRF guard applied at connect time, on every hop. Non-loopback addresses appear only behind the
// harness's connect seam (records, refuses) and an injected lookup: nothing leaves this machine.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LookupAll } from '../../src/fetch/index.js';
import { redirect, serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';
import { makeFetcher } from './harness.js';

const FEED = 'feeds/netflix-queue.atom';
const PUBLIC = '93.184.216.34';

let upstream: Upstream;
/** A second loopback server no test may reach: its port is never in allowPrivate. */
let canary: Upstream;
beforeEach(async () => {
  upstream = await startUpstream({ '/feed': serveFixture(FEED) });
  canary = await startUpstream(serveFixture(FEED));
});
afterEach(async () => {
  expect(canary.requests).toEqual([]);
  await Promise.all([upstream.close(), canary.close()]);
});

/** A lookup that answers from `table` and records every name it was asked. */
function fakeDns(table: Record<string, string[] | (() => string[])>): { lookup: LookupAll; asked: string[] } {
  const asked: string[] = [];
  const lookup: LookupAll = async (hostname) => {
    asked.push(hostname);
    const entry = table[hostname];
    if (entry === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return (typeof entry === 'function' ? entry() : entry).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookup, asked };
}

describe('IP-literal hosts', () => {
  const forbidden = (): Array<[string, string]> => [
    ['http://10.0.0.1/feed', '10.0.0.1'],
    ['http://169.254.169.254/latest/meta-data/?token=s3cr3t', '169.254.169.254'],
    ['http://[fd00::1]/feed', 'fd00::1'],
    ['http://[::ffff:a9fe:a9fe]/feed', '::ffff:a9fe:a9fe'],
    ['http://100.64.0.1/feed', '100.64.0.1'],
    ['http://0.0.0.0/feed', '0.0.0.0'],
  ];
  it.each(forbidden())('refuses %s before any connect or lookup', async (url, host) => {
    const dns = fakeDns({});
    const { fetcher, targets } = makeFetcher([], {}, { lookup: dns.lookup });

    const error = await fetcher.fetchFeed({ url }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'FP_FORBIDDEN_ADDRESS', statusCode: 400 });
    // Names the host:port exactly as FEEDPROXY_ALLOW_PRIVATE would take it, and the variable.
    const hostPort = host.includes(':') ? `[${host}]:80` : `${host}:80`;
    expect((error as Error).message).toBe(
      `Refused to connect to ${hostPort}: private, loopback and link-local addresses are not allowed; an operator can let one through by adding its host:port to FEEDPROXY_ALLOW_PRIVATE`,
    );
    expect(targets).toEqual([]);
    expect(dns.asked).toEqual([]);
  });

  it.each([
    ['decimal', (port: number) => `http://2130706433:${port}/`],
    ['hex', (port: number) => `http://0x7f000001:${port}/`],
    ['octal', (port: number) => `http://017700000001:${port}/`],
    ['short', (port: number) => `http://127.1:${port}/`],
    ['IPv4-mapped', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`],
  ])('refuses loopback written as a %s literal', async (_form, urlFor) => {
    const { fetcher, targets } = makeFetcher([upstream.hostPort]);

    await expect(fetcher.fetchFeed({ url: urlFor(canary.port) })).rejects.toMatchObject({ code: 'FP_FORBIDDEN_ADDRESS' });
    expect(targets).toEqual([]);
  });

  it('refuses the loopback upstream itself until its host:port is allowed', async () => {
    const refused = makeFetcher([]);
    const allowed = makeFetcher([upstream.hostPort]);

    await expect(refused.fetcher.fetchFeed({ url: upstream.url('/feed') })).rejects.toMatchObject({ code: 'FP_FORBIDDEN_ADDRESS' });
    expect(upstream.requests).toEqual([]);
    await expect(allowed.fetcher.fetchFeed({ url: upstream.url('/feed') })).resolves.toMatchObject({ kind: 'ok' });
    expect(allowed.targets).toEqual([{ hostname: '127.0.0.1', address: '127.0.0.1', port: upstream.port, protocol: 'http:' }]);
  });

  it('hands an approved public address to the connector, which the test refuses', async () => {
    const { fetcher, targets } = makeFetcher([]);

    await expect(fetcher.fetchFeed({ url: `http://${PUBLIC}/feed` })).rejects.toMatchObject({ code: 'FP_UPSTREAM_UNREACHABLE' });
    expect(targets).toEqual([{ hostname: PUBLIC, address: PUBLIC, port: 80, protocol: 'http:' }]);
  });
});

describe('resolved hostnames', () => {
  it('refuses a name that resolves to a private address', async () => {
    const dns = fakeDns({ 'intranet.example': ['10.0.0.5'] });
    const { fetcher, targets } = makeFetcher([], {}, { lookup: dns.lookup });

    await expect(fetcher.fetchFeed({ url: 'https://intranet.example/feed?feed_token=s3cr3t' })).rejects.toMatchObject({
      code: 'FP_FORBIDDEN_ADDRESS',
      message: expect.stringMatching(/^Refused to connect to intranet\.example:443: /),
    });
    expect(dns.asked).toEqual(['intranet.example']);
    expect(targets).toEqual([]);
  });

  it('refuses a name whose answers mix public and private addresses', async () => {
    const dns = fakeDns({ 'mixed.example': [PUBLIC, '169.254.169.254'] });
    const { fetcher, targets } = makeFetcher([], {}, { lookup: dns.lookup });

    await expect(fetcher.fetchFeed({ url: 'http://mixed.example/feed' })).rejects.toMatchObject({ code: 'FP_FORBIDDEN_ADDRESS' });
    expect(targets).toEqual([]);
  });

  it('connects to the public address it approved, keeping the hostname', async () => {
    const dns = fakeDns({ 'feeds.example': [PUBLIC] });
    const { fetcher, targets } = makeFetcher([], {}, { lookup: dns.lookup });

    await expect(fetcher.fetchFeed({ url: 'https://feeds.example/feed' })).rejects.toMatchObject({ code: 'FP_UPSTREAM_UNREACHABLE' });
    expect(targets).toEqual([{ hostname: 'feeds.example', address: PUBLIC, port: 443, protocol: 'https:' }]);
  });

  it('is not fooled by DNS rebinding: the address checked is the address connected to', async () => {
    // First answer public (passes a check), every later answer loopback on the canary's port. A
    // fetcher that resolved again to connect would reach the canary.
    let calls = 0;
    const dns = fakeDns({ 'rebind.example': () => (calls++ === 0 ? [PUBLIC] : ['127.0.0.1']) });
    const { fetcher, targets } = makeFetcher([], {}, { lookup: dns.lookup });

    await expect(fetcher.fetchFeed({ url: `http://rebind.example:${canary.port}/feed` })).rejects.toMatchObject({
      code: 'FP_UPSTREAM_UNREACHABLE',
    });
    await expect(fetcher.fetchFeed({ url: `http://rebind.example:${canary.port}/feed` })).rejects.toMatchObject({
      code: 'FP_FORBIDDEN_ADDRESS',
    });
    expect(dns.asked).toEqual(['rebind.example', 'rebind.example']);
    expect(targets.map((target) => target.address)).toEqual([PUBLIC]);
  });

  it('accepts a private answer when the hostname:port or the address:port is allowed', async () => {
    const dns = fakeDns({ 'feeds.local': ['127.0.0.1'] });
    const byName = makeFetcher([`feeds.local:${upstream.port}`], {}, { lookup: dns.lookup });
    const byAddress = makeFetcher([upstream.hostPort], {}, { lookup: dns.lookup });

    await expect(byName.fetcher.fetchFeed({ url: `http://feeds.local:${upstream.port}/feed` })).resolves.toMatchObject({ kind: 'ok' });
    await expect(byAddress.fetcher.fetchFeed({ url: `http://feeds.local:${upstream.port}/feed` })).resolves.toMatchObject({ kind: 'ok' });
    // The Host header still names the host (RFC 9110 §7.2) though we connected to the address.
    expect(upstream.requests.map((sent) => sent.headers.host)).toEqual([`feeds.local:${upstream.port}`, `feeds.local:${upstream.port}`]);
  });
});

describe('redirect hops', () => {
  it('refuses a redirect to loopback on a port that is not allowed', async () => {
    upstream.route('/evil', redirect(302, canary.url('/admin')));
    const { fetcher, targets } = makeFetcher([upstream.hostPort]);

    await expect(fetcher.fetchFeed({ url: upstream.url('/evil') })).rejects.toMatchObject({ code: 'FP_FORBIDDEN_ADDRESS' });
    expect(upstream.requests).toHaveLength(1);
    expect(targets.map((target) => target.port)).toEqual([upstream.port]);
  });

  it.each([
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['private network', 'http://10.0.0.1/'],
    ['unique-local IPv6', 'http://[fd00::1]:8080/'],
    ['a name resolving to private space', 'http://internal.example/'],
  ])('refuses a redirect to %s before connecting', async (_name, location) => {
    upstream.route('/evil', redirect(301, location));
    const dns = fakeDns({ 'internal.example': ['192.168.0.10'] });
    const { fetcher, targets } = makeFetcher([upstream.hostPort], {}, { lookup: dns.lookup });

    await expect(fetcher.fetchFeed({ url: upstream.url('/evil') })).rejects.toMatchObject({ code: 'FP_FORBIDDEN_ADDRESS' });
    expect(targets.map((target) => target.address)).toEqual(['127.0.0.1']);
  });

  it('guards a redirect to a public host through the connector like the first hop', async () => {
    upstream.route('/moved', redirect(308, 'https://feeds.example/feed'));
    const dns = fakeDns({ 'feeds.example': [PUBLIC] });
    const { fetcher, targets } = makeFetcher([upstream.hostPort], {}, { lookup: dns.lookup });

    const error = await fetcher.fetchFeed({ url: upstream.url('/moved') }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'FP_UPSTREAM_UNREACHABLE', message: 'Upstream unreachable: feeds.example (E_TEST_REFUSED)' });
    expect(targets.map((target) => `${target.hostname}=${target.address}:${target.port}`)).toEqual([
      `127.0.0.1=127.0.0.1:${upstream.port}`,
      `feeds.example=${PUBLIC}:443`,
    ]);
  });
});
