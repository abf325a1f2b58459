// The only file that loads undici. An Agent that dials through the guarded connector
// (guarded-connector.ts: the SSRF check on the address actually connected to), redirects followed
// by hand so every hop is checked and signed afresh, bodies read under a decoded-size cap, and
// everything, connect to last byte across all hops, under one deadline. About 300 lines in one file
// because redirects, the deadline and the error mapping share one exchange's state.
import { Agent, buildConnector, type Dispatcher } from 'undici';
import {
  TooManyRedirectsError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
  UpstreamUnreachableError,
  isCodedError,
  type CodedError,
} from '../errors.js';
import { checkUrl } from './guard.js';
import { createGuardedConnector, lookupAll, type LookupAll } from './guarded-connector.js';
import { ACCEPT_ENCODING, canDecode, readBody } from './read-body.js';
import { parseMaxAge, parseRetryAfter } from './response-headers.js';
import type { FeedRequest, FeedResponse, Fetcher, FetcherOptions, RawRequest, RawResponse, RequestSigner, ResponseMeta } from './types.js';

/** Test seams that are not part of FetcherOptions (types.ts is the shared contract). */
export interface FetcherHooks {
  /** Replaces the DNS resolution, so tests can name hostnames that resolve to private addresses. */
  lookup?: LookupAll;
}

// Feed formats first; generic XML/JSON still accepted (RFC 9110 §12.5.1).
const FEED_ACCEPT =
  'application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, application/feed+json, ' +
  'application/xml;q=0.8, text/xml;q=0.8, application/json;q=0.8, */*;q=0.5';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Only these tell us to update the stored URL (RFC 9110 §15.4.2, §15.4.9).
const PERMANENT_STATUSES = new Set([301, 308]);
// Headers that must not follow a redirect to another origin (as the Fetch standard drops them).
const ORIGIN_BOUND_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const DRAIN_LIMIT_BYTES = 128 * 1024;
// 204/205 carry no feed and we never ask for a range (206).
const NOT_A_DOCUMENT = new Set([204, 205, 206]);

interface Exchange {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  sign?: RequestSigner;
  followRedirects: boolean;
}

interface Answer {
  status: number;
  url: URL;
  permanentUrl?: string;
  headers: Record<string, string>;
  body: Dispatcher.ResponseData['body'];
}

/** Where the request currently is, so an error names the host of the hop that failed. */
interface Progress {
  host: string;
}

export function createFetcher(options: FetcherOptions, hooks: FetcherHooks = {}): Fetcher {
  // Connecting can never take longer than the whole request may.
  const connectTimeoutMs = Math.min(options.connectTimeoutMs, options.timeoutMs);
  const agent = new Agent({
    connect: createGuardedConnector(buildConnector({ timeout: connectTimeoutMs }), connectTimeoutMs, options, hooks.lookup ?? lookupAll),
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });

  /** Sends the exchange, following redirects by hand so each hop is guarded and signed afresh. */
  async function follow(exchange: Exchange, signal: AbortSignal, progress: Progress): Promise<Answer> {
    let url = checkUrl(exchange.url);
    const firstOrigin = url.origin;
    let redirects = 0;
    let allPermanent = true;
    for (;;) {
      // A fragment is never sent (RFC 9110 §4.2.5), so it is not part of what we sign or report.
      // (Assigned only when there is one: the assignment re-serialises the URL.)
      if (url.hash !== '') url.hash = '';
      progress.host = url.host;
      const response = await untilAborted(
        agent.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: exchange.method,
          headers: hopHeaders(exchange, url, url.origin === firstOrigin),
          body: exchange.body,
          signal,
        }),
        signal,
        (late) => discard(late.body),
      );
      const headers = flattenHeaders(response.headers);
      const location = headers.location;
      if (!exchange.followRedirects || !REDIRECT_STATUSES.has(response.statusCode) || location === undefined) {
        const permanentUrl = redirects > 0 && allPermanent ? url.href : undefined;
        return { status: response.statusCode, url, permanentUrl, headers, body: response.body };
      }
      await drain(response.body, signal);
      if (redirects >= options.maxRedirects) throw new TooManyRedirectsError(options.maxRedirects);
      redirects += 1;
      allPermanent &&= PERMANENT_STATUSES.has(response.statusCode);
      // A redirect to a scheme, credentials or address we refuse is refused like the same URL given
      // directly (400 at creation): a redirect must not be a way around the guard.
      url = checkUrl(resolveLocation(location, url));
    }
  }

  function hopHeaders(exchange: Exchange, url: URL, sameOrigin: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': options.userAgent,
      accept: '*/*',
      'accept-encoding': ACCEPT_ENCODING,
    };
    for (const [name, value] of Object.entries(exchange.headers)) {
      const key = name.toLowerCase();
      if (!sameOrigin && ORIGIN_BOUND_HEADERS.includes(key)) continue;
      headers[key] = value;
    }
    // Signed afresh on every hop, but only within the origin the credentials were meant for: an
    // OAuth signature names the token, and a redirect must not carry it to another host.
    const signed = sameOrigin ? (exchange.sign?.({ method: exchange.method, url: url.href }) ?? {}) : {};
    for (const [name, value] of Object.entries(signed)) headers[name.toLowerCase()] = value;
    return headers;
  }

  async function readCapped(answer: Answer, signal: AbortSignal, maxBytes = options.maxBodyBytes): Promise<Buffer> {
    const encoding = answer.headers['content-encoding'];
    const declared = Number(answer.headers['content-length']);
    // Without a coding the declared length is the decoded length: refuse before reading a byte.
    if (encoding === undefined && declared > maxBytes) {
      discard(answer.body);
      throw new UpstreamTooLargeError(maxBytes);
    }
    return readBody(answer.body, encoding, maxBytes, signal);
  }

  /** Runs `work` under the overall deadline and turns whatever fails into one of our coded errors. */
  async function withDeadline<T>(url: string, work: (signal: AbortSignal, progress: Progress) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeoutMs);
    // The host of the hop under way; the URL is parsed for it only if the first hop never began.
    const progress: Progress = { host: '' };
    try {
      return await work(controller.signal, progress);
    } catch (error) {
      throw toFetchError(error, progress.host || safeHost(url), controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    fetchFeed(request: FeedRequest): Promise<FeedResponse> {
      return withDeadline(request.url, async (signal, progress) => {
        // RFC 9110 §13.1: send both validators; a server evaluates If-None-Match first (§13.2.2).
        const conditional: Record<string, string> = {};
        if (request.etag !== undefined) conditional['if-none-match'] = request.etag;
        if (request.lastModified !== undefined) conditional['if-modified-since'] = request.lastModified;
        const answer = await follow(
          {
            method: 'GET',
            url: request.url,
            headers: { accept: FEED_ACCEPT, ...request.headers, ...conditional },
            sign: request.sign,
            followRedirects: true,
          },
          signal,
          progress,
        );
        const meta = metaOf(answer);
        if (answer.status === 304) {
          await drain(answer.body, signal);
          // RFC 9111 §4.3.4: the stored response keeps its validators unless the 304 updates them.
          return {
            kind: 'not-modified',
            ...meta,
            etag: meta.etag ?? request.etag,
            lastModified: meta.lastModified ?? request.lastModified,
          };
        }
        if (answer.status >= 200 && answer.status < 300 && !NOT_A_DOCUMENT.has(answer.status)) {
          const body = await readCapped(answer, signal);
          return { kind: 'ok', status: answer.status, body, ...meta };
        }
        await drain(answer.body, signal);
        throw upstreamHttpError(answer, progress.host);
      });
    },

    request(request: RawRequest): Promise<RawResponse> {
      return withDeadline(request.url, async (signal, progress) => {
        const answer = await follow(
          {
            method: request.method,
            url: request.url,
            headers: request.headers ?? {},
            body: request.body,
            sign: request.sign,
            // A POST is not repeated elsewhere behind the caller's back (RFC 9110 §15.4).
            followRedirects: request.method === 'GET',
          },
          signal,
          progress,
        );
        const body = await readCapped(answer, signal, Math.min(request.maxBodyBytes ?? options.maxBodyBytes, options.maxBodyBytes));
        const headers = { ...answer.headers };
        if (headers['content-encoding'] !== undefined && canDecode(headers['content-encoding'])) {
          // The body we hand back is decoded: these would describe bytes the caller never sees.
          delete headers['content-encoding'];
          delete headers['content-length'];
        }
        return { status: answer.status, finalUrl: answer.url.href, headers, body };
      });
    },

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

function metaOf(answer: Answer): ResponseMeta {
  return {
    finalUrl: answer.url.href,
    permanentUrl: answer.permanentUrl,
    etag: answer.headers.etag,
    lastModified: answer.headers['last-modified'],
    maxAgeSeconds: parseMaxAge(answer.headers['cache-control']),
    contentType: answer.headers['content-type'],
  };
}

function upstreamHttpError(answer: Answer, host: string): CodedError {
  const error: CodedError = new UpstreamHttpError(answer.status, host);
  error.upstreamStatus = answer.status;
  // RFC 9110 §10.2.3: Retry-After on 503, and on 429 (RFC 6585 §4).
  if (answer.status === 429 || answer.status === 503) {
    const retryAfterMs = parseRetryAfter(answer.headers['retry-after'], Date.now());
    if (retryAfterMs !== undefined) error.retryAfterMs = retryAfterMs;
  }
  return error;
}

/** Maps anything thrown on the way to a coded error whose message names the host, never the URL. */
function toFetchError(error: unknown, host: string, signal: AbortSignal): Error {
  if (isCodedError(error)) return error;
  if (signal.aborted) return new UpstreamTimeoutError(host);
  const code = errorCode(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) return new UpstreamTimeoutError(host);
  return new UpstreamUnreachableError(code === undefined ? host : `${host} (${code})`);
}

function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  }
  return undefined;
}

function resolveLocation(location: string, base: URL): string {
  try {
    return new URL(location, base).href;
  } catch {
    return location;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host || 'upstream';
  } catch {
    return 'upstream';
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts: undici only looks at the signal
 * once connected. A value that arrives after the abort goes to `discardLate`.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, discardLate: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise
      .then((value) => (signal.aborted ? discardLate(value) : resolve(value)), reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Reads a body we don't need (redirect, 304, error page) so the connection can be reused; past
 * DRAIN_LIMIT_BYTES undici closes the connection instead.
 */
async function drain(body: Dispatcher.ResponseData['body'], signal: AbortSignal): Promise<void> {
  await body.dump({ limit: DRAIN_LIMIT_BYTES, signal });
}

/** Throws a body away without reading it; its abort error has nobody to report to. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}
