// The configuration's one schema (TypeBox), for the YAML file and the environment alike, and the
// names each setting is known by: the environment variable, its `_FILE` variant, whether it is a
// secret. config.ts reads and validates against it; messages.ts words what a mistake was.
import { Type, type Static } from 'typebox';

// Defaults inside a record's values are not filled by the schema; services/connections.ts applies them.
export const ProviderSchema = Type.Object({
  requestTokenUrl: Type.String({ minLength: 1 }),
  authorizeUrl: Type.String({ minLength: 1 }),
  accessTokenUrl: Type.String({ minLength: 1 }),
  consumerKey: Type.String({ minLength: 1 }),
  consumerSecret: Type.String({ minLength: 1 }),
  /** HMAC-SHA1 when absent. */
  signatureMethod: Type.Optional(
    Type.Union([Type.Literal('HMAC-SHA1'), Type.Literal('HMAC-SHA256'), Type.Literal('PLAINTEXT'), Type.Literal('RSA-SHA1')]),
  ),
  /** Path of a PEM private key, for RSA-SHA1. */
  privateKeyFile: Type.Optional(Type.String()),
  authorizeParams: Type.Optional(Type.Record(Type.String(), Type.String())),
  feedsUrl: Type.Optional(Type.String()),
  /** Added to the query of every signed call (e.g. `output: atom`). */
  extraParams: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** Seconds a request token stays usable; 900 when absent. */
  requestTokenTtlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })),
  /** Send `oauth_callback=oob`; the user pastes the verifier. */
  outOfBand: Type.Optional(Type.Boolean()),
});
export type ProviderConfig = Static<typeof ProviderSchema>;

export const ConfigSchema = Type.Object({
  port: Type.Integer({ minimum: 0, maximum: 65_535, default: 8080 }),
  host: Type.String({ minLength: 1, default: '127.0.0.1' }),
  store: Type.String({ pattern: '^(sqlite|redis|rediss)://.+', default: 'sqlite://data/feedproxy.sqlite' }),
  /** Prefix of every Redis key, so deployments (and test runs) can share one Redis server. */
  storePrefix: Type.String({ pattern: '^[A-Za-z0-9_.:-]+$', default: 'feedproxy:' }),
  /** What `feedproxy serve` runs: the HTTP service, the refresh scheduler, or both. */
  role: Type.Union([Type.Literal('all'), Type.Literal('web'), Type.Literal('worker')], { default: 'all' }),
  /** 32 bytes, base64 or hex. Generated into the data directory in embedded mode when absent. */
  secretKey: Type.Optional(Type.String({ minLength: 1 })),
  /** The key before a rotation: still accepted for opening secrets, never for sealing. */
  previousSecretKey: Type.Optional(Type.String({ minLength: 1 })),
  adminToken: Type.Optional(Type.String({ minLength: 1 })),
  /** Bearer token GET /metrics asks for; unset, /metrics stays open (bind it to a private network). */
  metricsToken: Type.Optional(Type.String({ minLength: 1 })),
  publicUrl: Type.Optional(Type.String({ pattern: '^https?://[^/]+' })),
  allowPrivate: Type.Array(Type.String({ pattern: '^[^:\\s]+:\\d+$|^\\[[0-9a-fA-F:.]+\\]:\\d+$' }), { default: [] }),
  /**
   * Trust X-Forwarded-For from a reverse proxy: `true` for every hop, or a comma list of proxy
   * addresses/CIDRs. Off by default, since a client could otherwise pick the address its rate limit
   * is counted under.
   */
  trustProxy: Type.Union([Type.Boolean(), Type.String({ minLength: 1 })], { default: false }),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
  fetch: Type.Object(
    {
      maxBodyBytes: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024 }),
      timeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 600, default: 30 }),
      connectTimeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 120, default: 10 }),
      maxRedirects: Type.Integer({ minimum: 0, maximum: 20, default: 5 }),
      userAgent: Type.Optional(Type.String({ minLength: 1 })),
    },
    { default: {} },
  ),
  refresh: Type.Object(
    {
      /** Interval of a source created without `refreshMinutes`. */
      defaultMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 30 }),
      /** Operators may raise the floor users can ask for. */
      minMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 1 }),
      /** Sources refreshed at once, globally. */
      concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 8 }),
      /** Fetches at once against one upstream host. */
      perHostConcurrency: Type.Integer({ minimum: 1, maximum: 32, default: 2 }),
      /** How often the in-process scheduler looks for due sources. */
      tickSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 15 }),
      /**
       * A refresh lease lapses this long after its holder's last heartbeat: the bound on how long
       * the sources of a killed instance wait before another takes them over.
       */
      leaseSeconds: Type.Number({ minimum: 1, maximum: 600, default: 15 }),
      /** Upper bound of the error backoff and of an honoured Retry-After. */
      maxBackoffMinutes: Type.Integer({ minimum: 1, maximum: 10_080, default: 1440 }),
      /** Entries that fell out of the upstream document are kept this long… */
      retentionDays: Type.Number({ minimum: 0, maximum: 3650, default: 30 }),
      /** …and at most this many entries are kept per source. */
      maxEntriesPerSource: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
      /** A feed whose sources have all been failing this long carries a stale marker. */
      staleAfterHours: Type.Number({ minimum: 0, maximum: 8760, default: 24 }),
    },
    { default: {} },
  ),
  feeds: Type.Object(
    {
      defaultLimit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
      /** Cache-Control max-age of published feeds. */
      maxAgeSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 300 }),
    },
    { default: {} },
  ),
  /** What one user or one client may cost us (issue 7: abuse limits). */
  limits: Type.Object(
    {
      maxSourcesPerUser: Type.Integer({ minimum: 1, maximum: 100_000, default: 500 }),
      maxFeedsPerUser: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
      /** /api/v1 requests per minute and API key. */
      apiRequestsPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 600 }),
      /** Public feed requests per minute per client address (an IPv6 /64 is one) and feed URL: generous, a reader behind NAT is many readers. */
      publicRequestsPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000_000, default: 1200 }),
      /** Missing or wrong API keys per minute and client address; past it its wrong keys get 429 for the minute (valid keys still work). */
      wrongApiKeysPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 120 }),
      /**
       * Heavy requests of one user running at once in this process — creating, re-pointing or
       * refreshing a source, previewing or saving a feed, importing OPML; past it the next ones wait
       * for a slot (heavyRequestWaitSeconds), then get 429 with Retry-After.
       * Rate limits count requests, this counts work in progress (issue 18: 3).
       */
      heavyRequestsPerUser: Type.Integer({ minimum: 1, maximum: 1000, default: 2 }),
      /** How long a heavy request past the limit waits for a slot before it is refused (0: refuse at once). */
      heavyRequestWaitSeconds: Type.Integer({ minimum: 0, maximum: 120, default: 30 }),
      /** Bytes of cached entries (as stored, JSON) kept per source: the newest entries that fit. */
      maxCachedBytesPerSource: Type.Integer({ minimum: 65_536, maximum: 1024 * 1024 * 1024, default: 2 * 1024 * 1024 }),
      /** Bytes of cached entries of all of one user's sources: past it, new sources are refused. */
      maxCachedBytesPerUser: Type.Integer({ minimum: 65_536, maximum: 1024 * 1024 * 1024 * 1024, default: 256 * 1024 * 1024 }),
      /** Include (and exclude) rules of a feed, per list; at most 50. */
      maxFilterRules: Type.Integer({ minimum: 0, maximum: 50, default: 50 }),
      /** Characters of one include/exclude rule; at most 256. */
      maxFilterRuleLength: Type.Integer({ minimum: 1, maximum: 256, default: 256 }),
    },
    { default: {} },
  ),
  /**
   * How long a client may take to send a request (issue 18): a client trickling a byte every few
   * seconds would otherwise hold its connection forever. Generous for a slow OPML upload (the 1 MiB
   * body limit in 120 s is 9 KB/s).
   */
  http: Type.Object(
    {
      /** From the first byte of a request to the end of its headers. */
      headersTimeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 600, default: 30 }),
      /** From the first byte of a request to the end of its body; at least headersTimeoutSeconds. */
      requestTimeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 120 }),
    },
    { default: {} },
  ),
  /** How the process uses memory (src/heap-growth.ts; docs/operations.md "Memory"). */
  memory: Type.Object(
    {
      /**
       * How far V8 lets its heap grow past what was live after a full collection before it collects
       * again, in percent, and by at least 64 MiB (or 3× what is live, when less); 0 leaves V8's own rule (up to 4× on a
       * machine of several GB) and turns off the full collection an idle process runs.
       */
      heapGrowthPercent: Type.Integer({ minimum: 0, maximum: 300, default: 50 }),
    },
    { default: {} },
  ),
  providers: Type.Record(Type.String({ pattern: '^[a-z0-9_-]+$' }), ProviderSchema, { default: {} }),
  /** The WebSub hub of our own feeds (W3C WebSub, routes/websub.ts and websub/). */
  websub: Type.Object(
    {
      /** Lease of a subscription that asks for none; clamped into [min, max]. */
      defaultLeaseSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 10 * 86_400 }),
      /** Bounds of `hub.lease_seconds`: a value outside them is clamped (WebSub §5.1). */
      minLeaseSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 3600 }),
      maxLeaseSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 30 * 86_400 }),
      /** First retry of a failed delivery; each further one waits twice as long… */
      retryBaseSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 86_400, default: 60 }),
      /** …up to this… */
      retryMaxSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 86_400, default: 3600 }),
      /** …and after this many failed attempts in a row the subscription is dropped. */
      maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 8 }),
      /** How often the delivery loop looks for due deliveries. */
      tickSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 5 }),
      /** Deliveries at once, per process. */
      concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 8 }),
      /** Anyone may subscribe to a public feed: this bounds what one feed's subscribers cost us. */
      maxSubscriptionsPerFeed: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
      /** Hub requests per minute and client address (each one makes us send a verification GET). */
      requestsPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 60 }),
    },
    { default: {} },
  ),
});
export type Config = Static<typeof ConfigSchema> & {
  /** Base URL for links and OAuth callbacks, without a trailing slash. */
  publicUrl: string;
  /** Directory of the embedded store and the generated secret key. */
  dataDir: string;
  /** Path of the YAML file that was read, if any. */
  configFile?: string;
};
/** Environment variable → path in the schema. `*_FILE` variants read the value from a file. */
export const ENV_PATHS: Record<string, string[]> = {
  PORT: ['port'],
  HOST: ['host'],
  FEEDPROXY_STORE: ['store'],
  FEEDPROXY_STORE_PREFIX: ['storePrefix'],
  FEEDPROXY_ROLE: ['role'],
  FEEDPROXY_SECRET_KEY: ['secretKey'],
  FEEDPROXY_PREVIOUS_SECRET_KEY: ['previousSecretKey'],
  FEEDPROXY_ADMIN_TOKEN: ['adminToken'],
  FEEDPROXY_METRICS_TOKEN: ['metricsToken'],
  FEEDPROXY_PUBLIC_URL: ['publicUrl'],
  FEEDPROXY_ALLOW_PRIVATE: ['allowPrivate'],
  LOG_LEVEL: ['logLevel'],
  FEEDPROXY_TRUST_PROXY: ['trustProxy'],
  FEEDPROXY_MAX_SOURCES_PER_USER: ['limits', 'maxSourcesPerUser'],
  FEEDPROXY_MAX_FEEDS_PER_USER: ['limits', 'maxFeedsPerUser'],
  FEEDPROXY_API_RATE_LIMIT: ['limits', 'apiRequestsPerMinute'],
  FEEDPROXY_PUBLIC_RATE_LIMIT: ['limits', 'publicRequestsPerMinute'],
  FEEDPROXY_WRONG_KEY_RATE_LIMIT: ['limits', 'wrongApiKeysPerMinute'],
  FEEDPROXY_HEAVY_REQUESTS_PER_USER: ['limits', 'heavyRequestsPerUser'],
  FEEDPROXY_HEAVY_REQUEST_WAIT_SECONDS: ['limits', 'heavyRequestWaitSeconds'],
  FEEDPROXY_MAX_CACHED_BYTES_PER_SOURCE: ['limits', 'maxCachedBytesPerSource'],
  FEEDPROXY_MAX_CACHED_BYTES_PER_USER: ['limits', 'maxCachedBytesPerUser'],
  FEEDPROXY_MAX_FILTER_RULES: ['limits', 'maxFilterRules'],
  FEEDPROXY_MAX_FILTER_RULE_LENGTH: ['limits', 'maxFilterRuleLength'],
  FEEDPROXY_HEAP_GROWTH_PERCENT: ['memory', 'heapGrowthPercent'],
};
export const FILE_VARIABLES = new Set([
  'FEEDPROXY_SECRET_KEY',
  'FEEDPROXY_PREVIOUS_SECRET_KEY',
  'FEEDPROXY_ADMIN_TOKEN',
  'FEEDPROXY_METRICS_TOKEN',
]);
// `store` may carry a Redis password (redis://user:pass@host).
export const SECRET_PATHS = new Set(['secretKey', 'previousSecretKey', 'adminToken', 'metricsToken', 'consumerSecret', 'store']);

/** FEEDPROXY_* names read outside ENV_PATHS: the file's path, and the test suite's own switches. */
export const OTHER_VARIABLES = ['FEEDPROXY_CONFIG'];
export const IGNORED_VARIABLE_PREFIXES = ['FEEDPROXY_TEST_', 'FEEDPROXY_BENCH_', 'FEEDPROXY_PROVIDER_'];
