// The client's address of a raw request, as Fastify's `request.ip` gives it for the same
// `trustProxy` setting: the public feeds' fast lane (public-feeds.ts) answers before Fastify makes
// a request object, and must limit the same address Fastify's path does. The only import of
// @fastify/proxy-addr (the library Fastify itself reads X-Forwarded-For with). And what every limit
// counts as one client (addressKey).
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

export type ClientAddressOf = (request: IncomingMessage) => string | undefined;

/** Mirrors fastify/lib/request.js (getTrustProxyFn and the `ip` getters) for our setting's types. */
export function clientAddressOf(trustProxy: boolean | string): ClientAddressOf {
  if (trustProxy === false || trustProxy === '') return (request) => request.socket.remoteAddress;
  const trust = trustProxy === true ? () => true : proxyAddr.compile(trustProxy.split(',').map((value) => value.trim()));
  return (request) => {
    const addresses = proxyAddr.all(request, trust);
    return addresses[addresses.length - 1];
  };
}

/**
 * IPv6 clients usually hold a whole /64: counted as one address (by the public feeds' limit, the
 * WebSub hub, the wrong-key limit and the rate limit of every other route).
 */
export function addressKey(address: string): string {
  const plain = address.split('%')[0]!;
  if (!plain.includes(':') || plain.includes('.')) return plain; // IPv4, or IPv4 mapped into IPv6
  const [head = '', tail] = plain.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...headGroups, ...Array<string>(Math.max(8 - headGroups.length - tailGroups.length, 0)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
