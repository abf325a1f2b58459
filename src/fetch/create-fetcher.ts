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
  /** The Accept sent unless `headers` names one. */
  accept: string;
  headers: Record<string, string> | undefined;
  /** Validators for a conditional GET (RFC 9110 §13.1), after `headers`. */
  etag?: string;
  lastModified?: string;
  body?: string;
  sign?: RequestSigner;
  followRedirects: boolean;
}

interface Answer {
  status: number;
  /** The last hop's URL (its fragment dropped). */
  href: string;
  permanentUrl?: string;
  /** The last hop carried the exchange's signature (it has one, and the hop stayed on its origin). */
  signed: boolean;
  headers: Record<string, string>;
  body: Dispatcher.ResponseData['body'];
}

/**
 * One exchange's deadline, connect to last byte across all hops, and where the request currently is
 * (so an error names the host of the hop that failed). One timer and one AbortController an
 * exchange; the signal goes to undici, which aborts a connected request or its body. Before a hop is
 * connected undici only records the abort, so the hop under way is failed from here.
 */
class Deadline {
  readonly controller = new AbortController();
  host = '';
  /** Rejects the hop under way, until undici answers it. */
  failHop: ((reason: unknown) => void) | undefined = undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.#timer = setTimeout(expire, ms, this);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Throws the abort's reason once the deadline has passed (undici's dump resolves when aborted). */
  check(): void {
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

function expire(deadline: Deadline): void {
  deadline.controller.abort();
  deadline.failHop?.(deadline.controller.signal.reason);
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
  async function follow(exchange: Exchange, deadline: Deadline): Promise<Answer> {
    let url = checkUrl(exchange.url);
    const firstOrigin = url.origin;
    let redirects = 0;
    let allPermanent = true;
    for (;;) {
      // A fragment is never sent (RFC 9110 §4.2.5), so it is not part of what we sign or report.
      // (Assigned only when there is one: the assignment re-serialises the URL.)
      if (url.hash !== '') url.hash = '';
      const origin = url.origin;
      const href = url.href;
      deadline.host = url.host;
      const response = await sendHop(
        {
          origin,
          path: `${url.pathname}${url.search}`,
          method: exchange.method,
          headers: hopHeaders(exchange, href, origin === firstOrigin),
          body: exchange.body,
          signal: deadline.signal,
        },
        deadline,
      );
      const headers = flattenHeaders(response.headers);
      const location = headers.location;
      if (!exchange.followRedirects || !REDIRECT_STATUSES.has(response.statusCode) || location === undefined) {
        const permanentUrl = redirects > 0 && allPermanent ? href : undefined;
        const signed = exchange.sign !== undefined && origin === firstOrigin;
        return { status: response.statusCode, href, permanentUrl, signed, headers, body: response.body };
      }
      await drain(response.body, deadline);
      if (redirects >= options.maxRedirects) throw new TooManyRedirectsError(options.maxRedirects);
      redirects += 1;
      allPermanent &&= PERMANENT_STATUSES.has(response.statusCode);
      // A redirect to a scheme, credentials or address we refuse is refused like the same URL given
      // directly (400 at creation): a redirect must not be a way around the guard.
      url = checkUrl(resolveLocation(location, url));
    }
  }

  /**
   * One hop through undici, rejected as soon as the deadline passes: undici only acts on the signal
   * once connected. A response that arrives after the deadline is thrown away.
   */
  function sendHop(request: Dispatcher.RequestOptions, deadline: Deadline): Promise<Dispatcher.ResponseData> {
    return new Promise<Dispatcher.ResponseData>((resolve, reject) => {
      if (deadline.signal.aborted) {
        reject(deadline.signal.reason);
        return;
      }
      deadline.failHop = reject;
      agent.request(request, (error, data) => {
        deadline.failHop = undefined;
        if (error !== null) reject(error);
        else if (deadline.signal.aborted) discard(data.body);
        else resolve(data);
      });
    });
  }

  function hopHeaders(exchange: Exchange, href: string, sameOrigin: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': options.userAgent,
      accept: exchange.accept,
      'accept-encoding': ACCEPT_ENCODING,
    };
    if (exchange.headers !== undefined) {
      for (const name of Object.keys(exchange.headers)) {
        const key = name.toLowerCase();
        if (!sameOrigin && ORIGIN_BOUND_HEADERS.includes(key)) continue;
        headers[key] = exchange.headers[name]!;
      }
    }
    // RFC 9110 §13.1: send both validators; a server evaluates If-None-Match first (§13.2.2).
    if (exchange.etag !== undefined) headers['if-none-match'] = exchange.etag;
    if (exchange.lastModified !== undefined) headers['if-modified-since'] = exchange.lastModified;
    // Signed afresh on every hop, but only within the origin the credentials were meant for: an
    // OAuth signature names the token, and a redirect must not carry it to another host.
    if (sameOrigin && exchange.sign !== undefined) {
      const signed = exchange.sign({ method: exchange.method, url: href });
      for (const name of Object.keys(signed)) headers[name.toLowerCase()] = signed[name]!;
    }
    return headers;
  }

  /** `decode` false: the bytes as sent, whatever Content-Encoding says. */
  async function readCapped(answer: Answer, signal: AbortSignal, maxBytes = options.maxBodyBytes, decode = true): Promise<Buffer> {
    const encoding = decode ? answer.headers['content-encoding'] : undefined;
    const declared = Number(answer.headers['content-length']);
    // Without a coding the declared length is the decoded length: refuse before reading a byte.
    if (encoding === undefined && declared > maxBytes) {
      discard(answer.body);
      throw new UpstreamTooLargeError(maxBytes);
    }
    return readBody(answer.body, encoding, maxBytes, signal);
  }

  async function fetchFeed(request: FeedRequest, deadline: Deadline): Promise<FeedResponse> {
    const answer = await follow(
      {
        method: 'GET',
        url: request.url,
        accept: FEED_ACCEPT,
        headers: request.headers,
        etag: request.etag,
        lastModified: request.lastModified,
        sign: request.sign,
        followRedirects: true,
      },
      deadline,
    );
    if (answer.status === 304) {
      await drain(answer.body, deadline);
      // RFC 9111 §4.3.4: the stored response keeps its validators unless the 304 updates them.
      return {
        kind: 'not-modified',
        finalUrl: answer.href,
        permanentUrl: answer.permanentUrl,
        etag: answer.headers.etag ?? request.etag,
        lastModified: answer.headers['last-modified'] ?? request.lastModified,
        maxAgeSeconds: parseMaxAge(answer.headers['cache-control']),
        contentType: answer.headers['content-type'],
      };
    }
    if (answer.status >= 200 && answer.status < 300 && !NOT_A_DOCUMENT.has(answer.status)) {
      const meta = metaOf(answer);
      const body = await readCapped(answer, deadline.signal);
      return { kind: 'ok', status: answer.status, body, ...meta };
    }
    await drain(answer.body, deadline);
    throw upstreamHttpError(answer, deadline.host);
  }

  async function rawRequest(request: RawRequest, deadline: Deadline): Promise<RawResponse> {
    const answer = await follow(
      {
        method: request.method,
        url: request.url,
        accept: '*/*',
        headers: request.headers,
        body: request.body,
        sign: request.sign,
        // A POST is not repeated elsewhere behind the caller's back (RFC 9110 §15.4).
        followRedirects: request.method === 'GET',
      },
      deadline,
    );
    if (request.discardBody === true) {
      await discardAfterStatus(answer.body);
      return { status: answer.status, finalUrl: answer.href, headers: answer.headers, body: Buffer.alloc(0) };
    }
    // Asked for identity (a WebSub verification): the bytes as sent, never decoded — an answer that
    // came compressed anyway ignored what was asked, and its decoder would hold more than the hub's
    // verification budget charges (≈ 35 KB for gzip, ≈ 270 KB for brotli, against 20 KiB).
    const identityOnly = request.headers?.['accept-encoding'] === 'identity';
    const maxBytes = Math.min(request.maxBodyBytes ?? options.maxBodyBytes, options.maxBodyBytes);
    const body = await readCapped(answer, deadline.signal, maxBytes, !identityOnly);
    const headers = { ...answer.headers };
    if (!identityOnly && headers['content-encoding'] !== undefined && canDecode(headers['content-encoding'])) {
      // The body we hand back is decoded: these would describe bytes the caller never sees.
      delete headers['content-encoding'];
      delete headers['content-length'];
    }
    return { status: answer.status, finalUrl: answer.href, headers, body };
  }

  /** Runs an exchange under the overall deadline; whatever fails becomes one of our coded errors. */
  async function underDeadline<T>(url: string, exchange: (deadline: Deadline) => Promise<T>): Promise<T> {
    const deadline = new Deadline(options.timeoutMs);
    try {
      return await exchange(deadline);
    } catch (error) {
      throw toFetchError(error, deadline, url);
    } finally {
      deadline.clear();
    }
  }

  return {
    fetchFeed: (request: FeedRequest): Promise<FeedResponse> => underDeadline(request.url, (deadline) => fetchFeed(request, deadline)),
    request: (request: RawRequest): Promise<RawResponse> => underDeadline(request.url, (deadline) => rawRequest(request, deadline)),

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

function metaOf(answer: Answer): ResponseMeta {
  return {
    finalUrl: answer.href,
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
  if (answer.signed) error.upstreamSigned = true;
  // RFC 9110 §10.2.3: Retry-After on 503, and on 429 (RFC 6585 §4).
  if (answer.status === 429 || answer.status === 503) {
    const retryAfterMs = parseRetryAfter(answer.headers['retry-after'], Date.now());
    if (retryAfterMs !== undefined) error.retryAfterMs = retryAfterMs;
  }
  return error;
}

/**
 * Maps anything thrown on the way to a coded error whose message names the host of the hop under
 * way, never the URL (parsed for its host only if the first hop never began).
 */
function toFetchError(error: unknown, deadline: Deadline, url: string): Error {
  if (isCodedError(error)) return error;
  const host = deadline.host || safeHost(url);
  if (deadline.signal.aborted) return new UpstreamTimeoutError(host);
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

/**
 * undici's headers with repeated fields joined (RFC 9110 §5.3), in place: undici hands each response
 * a fresh object whose names are already lower-case. A `__proto__` field is dropped, as assigning
 * it to a fresh object would.
 */
function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || name === '__proto__') delete headers[name];
    else if (typeof value !== 'string') headers[name] = value.join(', ');
  }
  return headers as Record<string, string>;
}

/**
 * Reads a body we don't need (redirect, 304, error page) so the connection can be reused; past
 * DRAIN_LIMIT_BYTES undici closes the connection instead.
 */
async function drain(body: Dispatcher.ResponseData['body'], deadline: Deadline): Promise<void> {
  deadline.check();
  // Without a signal of its own: the deadline's abort reaches the body through undici's listener on
  // the request's signal (it destroys the body), and the dump then resolves, so the deadline is
  // checked again.
  await body.dump({ limit: DRAIN_LIMIT_BYTES });
  deadline.check();
}

/**
 * Throws away the body of an answer judged by its status alone (a WebSub delivery's, §7): read as it
 * arrives so the connection can be reused, the connection closed past DRAIN_LIMIT_BYTES or when the
 * deadline destroys the body (undici's listener on the request's signal), and however it ends, the
 * status stands — so the deadline is not checked after it, as drain() does.
 */
async function discardAfterStatus(body: Dispatcher.ResponseData['body']): Promise<void> {
  // Without a signal, undici's dump resolves once the body closes, whatever closed it.
  await body.dump({ limit: DRAIN_LIMIT_BYTES });
}

/** Throws a body away without reading it; its abort error has nobody to report to. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}
