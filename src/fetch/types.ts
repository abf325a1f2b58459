// The contract between fetch/ and its callers (refresh/, oauth/). fetch/ never reads the store:
// everything it needs arrives in these requests.

/** Signs one outgoing request (OAuth 1.0a); called again for every attempt and every redirect hop. */
export type RequestSigner = (request: { method: string; url: string }) => Record<string, string>;

export interface FeedRequest {
  url: string;
  /** Validators from the last 200, for a conditional GET (RFC 9110 §13.1). */
  etag?: string;
  lastModified?: string;
  sign?: RequestSigner;
  /** Extra request headers (never logged). */
  headers?: Record<string, string>;
}

export interface ResponseMeta {
  /** URL of the last hop (after redirects). */
  finalUrl: string;
  /** Set when every redirect on the way was permanent (301/308): the URL to store from now on. */
  permanentUrl?: string;
  etag?: string;
  lastModified?: string;
  /** Cache-Control max-age of the answer, seconds. */
  maxAgeSeconds?: number;
  contentType?: string;
}

export type FeedResponse = ({ kind: 'ok'; status: number; body: Buffer } & ResponseMeta) | ({ kind: 'not-modified' } & ResponseMeta);

/**
 * A raw request through the same guard and caps (used by the OAuth client for token endpoints
 * and discovery). Redirects are followed for GET only.
 */
export interface RawRequest {
  method: 'GET' | 'POST';
  url: string;
  /** With `accept-encoding: identity` (lower-case, as sent), the body is handed back as sent, never decoded. */
  headers?: Record<string, string>;
  body?: string;
  sign?: RequestSigner;
  /** A smaller cap on the decoded body than FetcherOptions.maxBodyBytes (a WebSub challenge needs bytes, not megabytes). */
  maxBodyBytes?: number;
  /**
   * Only the status and headers are wanted (a WebSub delivery): the body is thrown away as it
   * arrives, undecoded, and past 128 KiB or at the deadline the connection is closed; either way the
   * status stands. The response's `body` is empty.
   */
  discardBody?: boolean;
}

export interface RawResponse {
  status: number;
  finalUrl: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Fetcher {
  /**
   * GET a feed. Resolves with 200/304 outcomes; rejects with a coded error (src/errors.ts) for
   * everything else: FP_INVALID_URL, FP_FORBIDDEN_ADDRESS, FP_UPSTREAM_UNREACHABLE,
   * FP_UPSTREAM_TIMEOUT, FP_UPSTREAM_TOO_LARGE, FP_UPSTREAM_ENCODING, FP_TOO_MANY_REDIRECTS, and FP_UPSTREAM_HTTP with
   * `upstreamStatus` and, for 429/503, `retryAfterMs`.
   */
  fetchFeed(request: FeedRequest): Promise<FeedResponse>;
  /** Same guard, caps and errors as fetchFeed, but any HTTP status resolves. */
  request(request: RawRequest): Promise<RawResponse>;
  close(): Promise<void>;
}

export interface FetcherOptions {
  /** `host:port` pairs exempt from the private-address guard (FEEDPROXY_ALLOW_PRIVATE). */
  allowPrivate: string[];
  /** Cap on the decoded body, bytes. */
  maxBodyBytes: number;
  /** Whole request, including redirects and body, milliseconds. */
  timeoutMs: number;
  connectTimeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  /**
   * Test seam: replaces the TCP connect step (after the guard has approved the address) so tests
   * that name non-loopback addresses can record and refuse instead of sending a packet.
   */
  connect?: (target: { hostname: string; address: string; port: number; protocol: string }) => void;
}
