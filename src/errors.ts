// Coded errors whose messages are safe to show to the API caller: they never carry a URL's query,
// a token or a secret. Upstream failures are recorded on the source with the same codes.
import createError from '@fastify/error';

export const InvalidUrlError = createError<[string]>('FP_INVALID_URL', 'Invalid URL: %s', 400);
export const ForbiddenAddressError = createError<[string]>(
  'FP_FORBIDDEN_ADDRESS',
  'Refused to connect to %s: private, loopback and link-local addresses are not allowed; an operator can let one through by adding its host:port to FEEDPROXY_ALLOW_PRIVATE',
  400,
);
export const UpstreamUnreachableError = createError<[string]>('FP_UPSTREAM_UNREACHABLE', 'Upstream unreachable: %s', 422);
export const UpstreamTimeoutError = createError<[string]>('FP_UPSTREAM_TIMEOUT', 'Upstream timed out: %s', 422);
export const UpstreamHttpError = createError<[number, string]>('FP_UPSTREAM_HTTP', 'Upstream answered HTTP %s from %s', 422);
export const UpstreamTooLargeError = createError<[number]>(
  'FP_UPSTREAM_TOO_LARGE',
  'Upstream body exceeds the limit of %s bytes',
  422,
);
export const TooManyRedirectsError = createError<[number]>('FP_TOO_MANY_REDIRECTS', 'More than %s redirects', 422);
export const NotAFeedError = createError<[string]>('FP_NOT_A_FEED', 'Not a feed: %s', 422);

export const BadRequestError = createError<[string]>('FP_BAD_REQUEST', '%s', 400);
export const UnauthorizedError = createError('FP_UNAUTHORIZED', 'Missing or invalid API key', 401);
export const UserApiDisabledError = createError(
  'FP_USER_API_DISABLED',
  'The user API is disabled: FEEDPROXY_ADMIN_TOKEN is not set. Create users with `feedproxy users create NAME`, or set the token and restart',
  403,
);
export const NotFoundError = createError<[string]>('FP_NOT_FOUND', '%s not found', 404);
export const ConflictError = createError<[string]>('FP_CONFLICT', '%s', 409);
export const RateLimitedError = createError<[string]>('FP_RATE_LIMITED', 'Too many requests: %s', 429);
export const OAuthError = createError<[string]>('FP_OAUTH', 'OAuth: %s', 422);

export interface CodedError extends Error {
  code: string;
  statusCode?: number;
  /** Upstream HTTP status, when the error came from an upstream answer. */
  upstreamStatus?: number;
  /** Milliseconds the upstream asked us to wait (Retry-After on 429/503). */
  retryAfterMs?: number;
}

export function isCodedError(error: unknown): error is CodedError {
  return error instanceof Error && typeof (error as CodedError).code === 'string' && (error as CodedError).code.startsWith('FP_');
}
