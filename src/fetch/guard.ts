// The SSRF guard: which URLs we accept and which addresses we agree to connect to. Pure functions;
// guarded-connector.ts applies them to the address actually connected to, on every hop.
import { BlockList, isIP, isIPv4 } from 'node:net';
import { InvalidUrlError } from '../errors.js';

// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and successors): everything that is not
// globally reachable, plus multicast and the reserved/broadcast block.
const FORBIDDEN_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network" (RFC 791); 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space / CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback (RFC 1122)
  ['169.254.0.0', 16], // link-local, cloud metadata endpoints (RFC 3927)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments (RFC 6890)
  ['192.0.2.0', 24], // TEST-NET-1 (RFC 5737)
  ['192.88.99.0', 24], // 6to4 relay anycast, deprecated (RFC 7526)
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking (RFC 2544)
  ['198.51.100.0', 24], // TEST-NET-2 (RFC 5737)
  ['203.0.113.0', 24], // TEST-NET-3 (RFC 5737)
  ['224.0.0.0', 4], // multicast (RFC 5771)
  ['240.0.0.0', 4], // reserved (RFC 1112), includes the limited broadcast 255.255.255.255
];

// IANA IPv6 Special-Purpose Address Registry. The prefixes that embed an IPv4 address
// (::ffff:0:0/96, ::/96, 64:ff9b::/96, 2002::/16) are judged by that address instead, below.
const FORBIDDEN_V6: Array<[string, number]> = [
  ['::', 128], // unspecified (RFC 4291)
  ['::1', 128], // loopback (RFC 4291)
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['100::', 64], // discard-only (RFC 6666)
  ['2001::', 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID (RFC 2928)
  ['2001:db8::', 32], // documentation (RFC 3849)
  ['3fff::', 20], // documentation (RFC 9637)
  ['5f00::', 16], // SRv6 SIDs (RFC 9602)
  ['fc00::', 7], // unique-local (RFC 4193)
  ['fe80::', 10], // link-local (RFC 4291)
  ['fec0::', 10], // site-local, deprecated (RFC 3879)
  ['ff00::', 8], // multicast (RFC 4291)
];

const forbiddenV4 = new BlockList();
for (const [network, prefix] of FORBIDDEN_V4) forbiddenV4.addSubnet(network, prefix, 'ipv4');
const forbiddenV6 = new BlockList();
for (const [network, prefix] of FORBIDDEN_V6) forbiddenV6.addSubnet(network, prefix, 'ipv6');

/**
 * True when connecting to `ip` could reach something other than the public internet. Anything that
 * is not an IP address at all is forbidden too: the guard only ever approves what it understands.
 */
export function isForbiddenAddress(ip: string): boolean {
  const address = stripBrackets(ip).replace(/%.*$/, '');
  const family = isIP(address);
  if (family === 4) return forbiddenV4.check(address, 'ipv4');
  if (family !== 6) return true;
  const embedded = embeddedIpv4(parseIpv6(address));
  if (embedded !== undefined) return isForbiddenAddress(embedded);
  return forbiddenV6.check(address, 'ipv6');
}

/**
 * True when `host:port` is listed in allowPrivate (FEEDPROXY_ALLOW_PRIVATE). Hosts compare in their
 * canonical URL form, so `[0:0::1]:8080` matches `[::1]:8080` and `LOCALHOST:80` matches `localhost:80`.
 */
export function isAllowedException(host: string, port: number | string, allowPrivate: readonly string[]): boolean {
  const wanted = canonicalHost(host);
  if (wanted === undefined) return false;
  return allowPrivate.some((entry) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry.trim());
    return match !== null && Number(match[2]) === Number(port) && canonicalHost(match[1] ?? '') === wanted;
  });
}

/**
 * Parses a user-supplied URL and refuses what we never fetch: schemes other than http(s) and URLs
 * carrying credentials. The WHATWG parser already turns odd IPv4 literals (2130706433, 0x7f000001,
 * 017700000001, 127.1) into dotted quads, so the connect-time guard sees the real address.
 * Messages never repeat the URL: its query may hold a token.
 */
export function checkUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidUrlError('not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidUrlError(`unsupported scheme ${parsed.protocol.slice(0, 20)}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new InvalidUrlError('credentials in the URL are not allowed');
  }
  if (parsed.hostname === '') throw new InvalidUrlError('missing host');
  // Each parameter's value is a secret scrubbed from every text the source publishes (secrets/scrub.ts),
  // one pass a value: hundreds of them made one refresh of a large item cost seconds of the event loop.
  const parameters = (parsed.search.match(/[?&][^&]/g)?.length ?? 0) + (parsed.pathname.match(/;[^;/]/g)?.length ?? 0);
  if (parameters > MAX_URL_PARAMETERS) throw new InvalidUrlError(`more than ${MAX_URL_PARAMETERS} query and matrix parameters`);
  return parsed;
}

/** Feed URLs carry a few parameters; more than this is no feed URL (see checkUrl). */
export const MAX_URL_PARAMETERS = 64;

function canonicalHost(host: string): string | undefined {
  const bare = stripBrackets(host.trim());
  if (bare === '') return undefined;
  try {
    const hostname = new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`).hostname;
    return stripBrackets(hostname).replace(/\.$/, '');
  } catch {
    return undefined;
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The IPv4 address carried by an IPv4-mapped, -compatible, NAT64 or 6to4 IPv6 address. */
function embeddedIpv4(bytes: Uint8Array): string | undefined {
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((byte) => byte === 0);
  const dotted = (offset: number) => Array.from(bytes.subarray(offset, offset + 4)).join('.');
  // ::ffff:a.b.c.d mapped (RFC 4291 §2.5.5.2) and ::ffff:0:a.b.c.d translated (RFC 2765)
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return dotted(12);
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return dotted(12);
  // ::a.b.c.d compatible (RFC 4291 §2.5.5.1, deprecated); covers :: and ::1 as 0.0.0.0/8
  if (zeros(0, 12)) return dotted(12);
  // 64:ff9b::a.b.c.d well-known NAT64 prefix (RFC 6052)
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) return dotted(12);
  // 2002:AABB:CCDD::/48 6to4 (RFC 3056)
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return dotted(2);
  return undefined;
}

/** 16 bytes of a valid IPv6 text form (isIP already said it is one). */
function parseIpv6(address: string): Uint8Array {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  // A dotted-quad tail (::ffff:127.0.0.1) becomes the two hex groups it stands for.
  if (isIPv4(last)) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const toGroups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [head = '', tail] = text.split('::');
  const front = toGroups(head);
  const back = tail === undefined ? [] : toGroups(tail);
  const gap = tail === undefined ? [] : new Array<number>(8 - front.length - back.length).fill(0);
  const bytes = new Uint8Array(16);
  [...front, ...gap, ...back].slice(0, 8).forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}
