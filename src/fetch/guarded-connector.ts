// The connector undici's Agent dials through: the SSRF check on the address actually connected to
// (STYLE habit 6). It resolves the host itself, runs the guard (guard.ts) on every address, connects
// to the address it approved, so DNS rebinding between the check and the connect cannot happen, and
// checks the socket's peer again. create-fetcher.ts hands it undici's plain connector and uses it
// on every redirect hop; this file only names undici's types.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { buildConnector } from 'undici';
import { ForbiddenAddressError } from '../errors.js';
import { isAllowedException, isForbiddenAddress } from './guard.js';
import type { FetcherOptions } from './types.js';

/** Resolves a hostname to every address it has, like `dns.lookup(host, { all: true })`. */
export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

/**
 * `connectSocket` (undici's plain connector) with the guard in front: resolve, check every address,
 * connect to the approved one (keeping the hostname for SNI and Host), then check the socket's peer
 * once more. The lookup gets `connectTimeoutMs`, as the connect itself does.
 */
export function createGuardedConnector(
  connectSocket: buildConnector.connector,
  connectTimeoutMs: number,
  options: Pick<FetcherOptions, 'allowPrivate' | 'connect'>,
  lookup: LookupAll,
): buildConnector.connector {
  const isApproved = (address: string, hostname: string, port: number) =>
    !isForbiddenAddress(address) ||
    isAllowedException(hostname, port, options.allowPrivate) ||
    isAllowedException(address, port, options.allowPrivate);

  return (target, callback) => {
    const { hostname, protocol } = target;
    const port = Number(target.port) || (protocol === 'https:' ? 443 : 80);
    approveAddress(hostname, port)
      .then((address) => {
        options.connect?.({ hostname, address, port, protocol });
        const servername = target.servername ?? (isIP(hostname) === 0 ? hostname : undefined);
        connectSocket({ ...target, hostname: address, servername }, (error, socket) => {
          if (error !== null) {
            callback(error, null);
            return;
          }
          const peer = socket.remoteAddress;
          if (peer === undefined || !isApproved(peer, hostname, port)) {
            socket.destroy();
            callback(new ForbiddenAddressError(hostPortOf(hostname, port)), null);
            return;
          }
          callback(null, socket);
        });
      })
      .catch((error: Error) => callback(error, null));
  };

  async function approveAddress(hostname: string, port: number): Promise<string> {
    // IP literals (undici already stripped the IPv6 brackets) are never looked up.
    const addresses =
      isIP(hostname) !== 0 ? [hostname] : (await withTimeout(lookup(hostname), connectTimeoutMs)).map((entry) => entry.address);
    const [first] = addresses;
    if (first === undefined) throw Object.assign(new Error('no address'), { code: 'ENOTFOUND' });
    // One forbidden answer refuses the host: a name that mixes public and private answers is not
    // one we want to reason about address by address.
    if (addresses.some((address) => !isApproved(address, hostname, port))) throw new ForbiddenAddressError(hostPortOf(hostname, port));
    return first;
  }
}

/** As FEEDPROXY_ALLOW_PRIVATE spells it, so the refusal names exactly what to add there. */
function hostPortOf(hostname: string, port: number): string {
  return `${isIP(hostname) === 6 ? `[${hostname}]` : hostname}:${port}`;
}

export async function lookupAll(hostname: string): Promise<Array<{ address: string; family: number }>> {
  return dnsLookup(hostname, { all: true, verbatim: true });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
