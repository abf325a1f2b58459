// The public face of fetch/: callers import from here, never from undici.
export { createFetcher, type FetcherHooks } from './create-fetcher.js';
export type { LookupAll } from './guarded-connector.js';
export { checkUrl, isAllowedException, isForbiddenAddress } from './guard.js';
export { parseMaxAge, parseRetryAfter } from './response-headers.js';
export type * from './types.js';
