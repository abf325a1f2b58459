// The client's address of a raw request, as Fastify's `request.ip` gives it for the same
// `trustProxy` setting: the public feeds' fast lane (public-feeds.ts) answers before Fastify makes
// a request object, and must limit the same address Fastify's path does. The only import of
// @fastify/proxy-addr (the library Fastify itself reads X-Forwarded-For with).
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
