// The public face of fetch/: callers import from here, never from undici.
export { createFetcher, type FetcherHooks, type LookupAll } from './create-fetcher.js';
export { checkUrl, isAllowedException, isForbiddenAddress } from './guard.js';
export { parseMaxAge, parseRetryAfter } from './response-headers.js';
export type * from './types.js';
