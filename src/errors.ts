// Coded errors whose messages are safe to show to the API caller: they never carry a URL's query,
// a token or a secret. Upstream failures are recorded on the source with the same codes.
// This file is the catalogue: every FP_ code is created here, once, with its HTTP status, and
// docs/errors.md says what each means and what to do; test/errors.test.ts holds the three together.
import createError from '@fastify/error';

/**
 * createError, with the code and status also on the constructor: `InternalError.code` names a code
 * (a refresh result, a set of codes) without making an error, and without spelling the string again.
 */
function coded<Arg extends unknown[] = [], C extends string = string, SC extends number = number>(
  code: C,
  message: string,
  statusCode: SC,
) {
  return Object.assign(createError<C, SC, Arg>(code, message, statusCode), { code, statusCode });
}

export const InvalidUrlError = coded<[string]>('FP_INVALID_URL', 'Invalid URL: %s', 400);
export const ForbiddenAddressError = coded<[string]>(
  'FP_FORBIDDEN_ADDRESS',
  'Refused to connect to %s: private, loopback and link-local addresses are not allowed; an operator can let one through by adding its host:port to FEEDPROXY_ALLOW_PRIVATE',
  400,
);
export const UpstreamUnreachableError = coded<[string]>('FP_UPSTREAM_UNREACHABLE', 'Upstream unreachable: %s', 422);
export const UpstreamTimeoutError = coded<[string]>('FP_UPSTREAM_TIMEOUT', 'Upstream timed out: %s', 422);
export const UpstreamHttpError = coded<[number, string]>('FP_UPSTREAM_HTTP', 'Upstream answered HTTP %s from %s', 422);
export const UpstreamTooLargeError = coded<[number]>('FP_UPSTREAM_TOO_LARGE', 'Upstream body exceeds the limit of %s bytes', 422);
export const UpstreamEncodingError = coded<[number, number]>(
  'FP_UPSTREAM_ENCODING',
  'Upstream answer stacks %s content codings (Content-Encoding); at most %s are decoded',
  422,
);
export const TooManyRedirectsError = coded<[number]>('FP_TOO_MANY_REDIRECTS', 'More than %s redirects', 422);
export const NotAFeedError = coded<[string]>('FP_NOT_A_FEED', 'Not a feed: %s', 422);

export const BadRequestError = coded<[string]>('FP_BAD_REQUEST', '%s', 400);
export const UnauthorizedError = coded('FP_UNAUTHORIZED', 'Missing or invalid API key', 401);
export const UserApiDisabledError = coded(
  'FP_USER_API_DISABLED',
  'The user API is disabled: FEEDPROXY_ADMIN_TOKEN is not set. Create users with `feedproxy users create NAME`, or set the token and restart',
  403,
);
export const NotFoundError = coded<[string]>('FP_NOT_FOUND', '%s not found', 404);
export const MethodNotAllowedError = coded<[string]>('FP_METHOD_NOT_ALLOWED', '%s', 405);
export const ConflictError = coded<[string]>('FP_CONFLICT', '%s', 409);
export const PayloadTooLargeError = coded<[string]>('FP_PAYLOAD_TOO_LARGE', '%s', 413);
export const UnsupportedMediaTypeError = coded<[string]>('FP_UNSUPPORTED_MEDIA_TYPE', '%s', 415);
export const RateLimitedError = coded<[string]>('FP_RATE_LIMITED', 'Too many requests: %s', 429);
export const OAuthError = coded<[string]>('FP_OAUTH', 'OAuth: %s', 422);

/** A bug or an unexpected failure: the message stays generic, the details go to the log only. */
export const InternalError = coded<[string]>('FP_INTERNAL', '%s', 500);
/** The store (Redis restarting, a locked SQLite file) does not answer: the request may simply be retried. */
export const StoreUnavailableError = coded('FP_STORE_UNAVAILABLE', 'The store is unavailable; try again shortly', 503);

export interface CodedError extends Error {
  code: string;
  statusCode?: number;
  /** Upstream HTTP status, when the error came from an upstream answer. */
  upstreamStatus?: number;
  /** The upstream's answer was to a request carrying our OAuth signature (a 401 then refuses the token). */
  upstreamSigned?: boolean;
  /**
   * Milliseconds to wait before trying again: what an upstream's Retry-After asked of us (its 429/503,
   * recorded on the source), or what our own 429/503 asks of the client (sent as Retry-After).
   */
  retryAfterMs?: number;
}

export function isCodedError(error: unknown): error is CodedError {
  return error instanceof Error && typeof (error as CodedError).code === 'string' && (error as CodedError).code.startsWith('FP_');
}

/** `error` asking whoever gets it to wait `retryAfterMs` before trying again. */
export function withRetryAfter<E extends Error>(error: E, retryAfterMs: number): E & { retryAfterMs: number } {
  return Object.assign(error, { retryAfterMs });
}
