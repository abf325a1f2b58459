// What the HTTP surface does against browsers and floods: security headers on every answer, rate
// limits on the API (per key) and on the feed pages (per client). The public feed routes limit
// themselves (routes/public-limit.ts) and offer CORS, the only thing shared cross-origin; they set
// their own headers (routes/public-feeds.ts), outside the scope this file's hooks are added to.
// The only imports of helmet and @fastify/rate-limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import type { KeyValueStore } from './store/kv.js';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import helmetMiddleware, { type HelmetOptions } from 'helmet';
import type { Deps } from './deps.js';
import {
  BadRequestError,
  isCodedError,
  PayloadTooLargeError,
  RateLimitedError,
  UnsupportedMediaTypeError,
  withRetryAfter,
} from './errors.js';
import { bearerToken } from './routes/api/bearer.js';
import { addressKey } from './routes/client-address.js';
import { hashApiKey } from './vault/seal.js';

const FEED_PAGE_ROUTE = '/f/:token';
const MINUTE_MS = 60_000;

// Fastify's own client errors, under codes of ours (the error handler shows `error` as the code).
const FASTIFY_CLIENT_ERRORS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: PayloadTooLargeError.code,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: UnsupportedMediaTypeError.code,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: BadRequestError.code,
  FST_ERR_CTP_EMPTY_JSON_BODY: BadRequestError.code,
  FST_ERR_CTP_INVALID_JSON_BODY: BadRequestError.code,
};

/** The code a 4xx answer shows for an error Fastify (not our code) raised. */
export function clientErrorCodeOf(error: FastifyError): string {
  return FASTIFY_CLIENT_ERRORS[error.code] ?? (isCodedError(error) ? error.code : BadRequestError.code);
}

function isApi(request: FastifyRequest): boolean {
  return request.routeOptions.url?.startsWith('/api/') === true;
}

/** The browser view of a public token (routes/browser-view.ts): it renders a page, so it is limited like the feeds. */
function isFeedPage(request: FastifyRequest): boolean {
  return request.routeOptions.url === FEED_PAGE_ROUTE;
}

const HELMET_OPTIONS = {
  // Self-hosted instances often answer plain http on a LAN: upgrading the docs page's own
  // requests to https would break it.
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
} satisfies HelmetOptions;

/**
 * The headers helmet sets with our options, computed once: they do not depend on the request (no
 * CSP nonces). Every answer of the site gets them from one hook (below); the public feed routes,
 * outside the site's scope (app.ts), set what they need from memory (BENCHMARKS.md, diagnosis 1).
 */
export const HELMET_HEADERS: Readonly<Record<string, string>> = (() => {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  helmetMiddleware(HELMET_OPTIONS)({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
})();
const HELMET_ENTRIES = Object.entries(HELMET_HEADERS);

/**
 * helmet's headers that mean something on a feed document (Atom, RSS or JSON a browser may render
 * when someone opens the URL), with the reason each is kept. The others are left off: they are
 * for HTML pages or for browsers nobody runs (SECURITY.md, "Headers").
 */
const FEED_SECURITY_HEADER_NAMES = [
  // An XML document may carry XHTML <script> a browser runs: the CSP forbids inline script, plugins, framing.
  'content-security-policy',
  // A feed opened in a tab is a top-level document: no cross-origin opener keeps a handle on it.
  'cross-origin-opener-policy',
  // The capability token is in the URL: no link followed from a rendered feed carries it as Referer.
  'referrer-policy',
  // The bytes are exactly their Content-Type: no sniffing a feed into HTML.
  'x-content-type-options',
  // frame-ancestors' counterpart for browsers that only know this one.
  'x-frame-options',
] as const;

/**
 * The security headers of a public feed's 200 (and HEAD), of its 404 and 429: helmet's that mean
 * something for a feed document, the resource policy that lets a page elsewhere embed it, and HSTS
 * only when the public URL is https (a browser ignores HSTS on plain http: RFC 6797 §8.1). A 304
 * carries none of them: the browser keeps those of the stored 200 it refreshes (RFC 9111 §4.3.4).
 */
export function feedSecurityHeaders(publicUrl: string): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const name of FEED_SECURITY_HEADER_NAMES) headers[name] = HELMET_HEADERS[name]!;
  headers['cross-origin-resource-policy'] = 'cross-origin';
  if (publicUrl.startsWith('https:')) headers['strict-transport-security'] = HELMET_HEADERS['strict-transport-security']!;
  return Object.freeze(headers);
}

/**
 * @fastify/rate-limit's store on our KeyValueStore's shared windows (Redis): N instances count one
 * budget per key. Its own Redis store wants an ioredis client; ours is node-redis, already open.
 */
function sharedRateLimitStore(hitWindow: NonNullable<KeyValueStore['hitWindow']>, namespace = 'rate:') {
  return class SharedWindowStore {
    // The plugin passes the route's window as a third argument its types leave out.
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number = MINUTE_MS,
    ): void {
      hitWindow(`${namespace}${key}`, timeWindow).then(
        ({ count, remainingMs }) => callback(null, { current: count, ttl: remainingMs }),
        (error: Error) => callback(error),
      );
    }
    child(routeOptions: object) {
      const { method, url } = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {};
      const Child = sharedRateLimitStore(hitWindow, `${namespace}${method ?? ''}${url ?? ''}:`);
      return new Child();
    }
  };
}

export async function registerHttpSecurity(
  app: FastifyInstance,
  deps: Pick<Deps, 'config'> & { registry: Pick<KeyValueStore, 'hitWindow'> },
): Promise<void> {
  const { limits } = deps.config;
  const { hitWindow } = deps.registry;

  // helmet's headers, made once (HELMET_HEADERS), set the way @fastify/helmet set them (on the raw
  // response, before anything else) by one callback hook: @fastify/helmet ran helmet's middleware
  // — parsing the CSP directives again — on every request (BENCHMARKS.md, diagnosis 1). The hook
  // belongs to `app`'s scope: the public feed routes, outside it, set theirs themselves.
  app.addHook('onRequest', (_request, reply, done) => {
    const raw = reply.raw;
    for (const [name, value] of HELMET_ENTRIES) raw.setHeader(name, value);
    done();
  });
  await app.register(rateLimit, {
    global: true,
    timeWindow: MINUTE_MS,
    ...(hitWindow ? { store: sharedRateLimitStore(hitWindow), skipOnError: true } : {}),
    // A key hash, not the key: the limiter's table is memory we might dump. An address is counted as
    // the public feeds and the hub count it (an IPv6 client holds a whole /64, not one address).
    keyGenerator: (request) => {
      if (!isApi(request)) return `ip:${addressKey(request.ip)}`;
      const apiKey = bearerToken(request.headers.authorization);
      return apiKey === undefined ? `ip:${addressKey(request.ip)}` : `key:${hashApiKey(apiKey)}`;
    },
    max: (request) => (isApi(request) ? limits.apiRequestsPerMinute : limits.publicRequestsPerMinute),
    // Health, metrics, docs and unknown paths are not limited here; only what costs us is (the
    // public feeds limit themselves: routes/public-limit.ts).
    allowList: (request) => !isApi(request) && !isFeedPage(request),
    // The plugin has set Retry-After already; the error carries the same wait, as every 429 of ours does.
    errorResponseBuilder: (_request, context) =>
      withRetryAfter(new RateLimitedError(`at most ${context.max} a minute; retry in ${context.after}`), context.ttl),
  });
}

/**
 * The dashboard's CSP, stricter than helmet's default the API docs need: scripts and styles from
 * our origin only (no inline script or style), no framing, no plugins. Forms post to us, and the
 * "Connect" form's answer redirects to a provider's authorize page, which form-action must allow.
 */
export function dashboardContentSecurityPolicy(deps: Pick<Deps, 'config'>): string {
  const providerOrigins = new Set<string>();
  for (const provider of Object.values(deps.config.providers)) {
    try {
      providerOrigins.add(new URL(provider.authorizeUrl).origin);
    } catch {
      // An authorize URL that does not parse cannot be redirected to either.
    }
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    `form-action 'self'${[...providerOrigins].map((origin) => ` ${origin}`).join('')}`,
  ].join('; ');
}
