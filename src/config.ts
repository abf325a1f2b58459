// One schema for the YAML file and the environment, validated once at start and frozen.
// This is the only module that reads process.env; everything else receives a Config.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';

// Defaults inside a record's values are not filled by the schema; services/connections.ts applies them.
const ProviderSchema = Type.Object({
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
      publicRequestsPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1200 }),
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

/** A value that makes the service refuse to start: exit code 2, one line. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** Environment variable → path in the schema. `*_FILE` variants read the value from a file. */
const ENV_PATHS: Record<string, string[]> = {
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
};
const FILE_VARIABLES = new Set(['FEEDPROXY_SECRET_KEY', 'FEEDPROXY_PREVIOUS_SECRET_KEY', 'FEEDPROXY_ADMIN_TOKEN', 'FEEDPROXY_METRICS_TOKEN']);
// `store` may carry a Redis password (redis://user:pass@host).
const SECRET_PATHS = new Set(['secretKey', 'previousSecretKey', 'adminToken', 'metricsToken', 'consumerSecret', 'store']);

/** FEEDPROXY_* names read outside ENV_PATHS: the file's path, and the test suite's own switches. */
const OTHER_VARIABLES = ['FEEDPROXY_CONFIG'];
const IGNORED_VARIABLE_PREFIXES = ['FEEDPROXY_TEST_', 'FEEDPROXY_BENCH_', 'FEEDPROXY_PROVIDER_'];

/**
 * Reads and validates the configuration. `warn` hears about names that look meant for us but are
 * not ours (a misspelt FEEDPROXY_* variable or YAML key), each with the nearest known name.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, warn: (message: string) => void = () => undefined): Readonly<Config> {
  const configFile = env.FEEDPROXY_CONFIG ?? (existsSync('config/feedproxy.yaml') ? 'config/feedproxy.yaml' : undefined);
  const raw: Record<string, unknown> = configFile ? readYaml(configFile, env.FEEDPROXY_CONFIG !== undefined) : {};
  for (const message of unknownNames(env, raw, configFile)) warn(message);

  for (const [variable, path] of Object.entries(ENV_PATHS)) {
    let value = env[variable];
    const fileVariable = `${variable}_FILE`;
    if (value === undefined && FILE_VARIABLES.has(variable) && env[fileVariable]) {
      value = readSecretFile(fileVariable, env[fileVariable]);
    }
    if (value === undefined || value === '') continue;
    setPath(raw, path, variable === 'FEEDPROXY_ALLOW_PRIVATE' ? splitList(value) : value);
  }
  readProviderSecretsFromEnv(raw, env);
  // pino's level names are lowercase; `LOG_LEVEL=INFO` means the same.
  if (typeof raw.logLevel === 'string') raw.logLevel = raw.logLevel.toLowerCase();

  const converted = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  const error = Value.Errors(ConfigSchema, converted)[0];
  if (error) throw new ConfigError(variableFor(error.instancePath, env), describe(error.message, error.instancePath, converted));

  const config = converted as Static<typeof ConfigSchema>;
  if (config.trustProxy === 'true' || config.trustProxy === 'false') config.trustProxy = config.trustProxy === 'true';
  if (typeof config.trustProxy === 'string') checkTrustProxy(config.trustProxy);
  if (config.secretKey !== undefined) parseSecretKey(config.secretKey);
  if (config.previousSecretKey !== undefined) parseSecretKey(config.previousSecretKey, 'FEEDPROXY_PREVIOUS_SECRET_KEY');
  if (config.http.requestTimeoutSeconds < config.http.headersTimeoutSeconds) {
    throw new ConfigError('http.requestTimeoutSeconds', `must be at least http.headersTimeoutSeconds (${config.http.headersTimeoutSeconds})`);
  }
  const isEmbedded = config.store.startsWith('sqlite://');
  if (!isEmbedded && config.secretKey === undefined) {
    throw new ConfigError('FEEDPROXY_SECRET_KEY', 'required when FEEDPROXY_STORE is not a sqlite:// file');
  }
  for (const [id, provider] of Object.entries(config.providers)) {
    if (provider.signatureMethod === 'RSA-SHA1' && !provider.privateKeyFile) {
      throw new ConfigError(`providers.${id}.privateKeyFile`, 'required for RSA-SHA1');
    }
    if (provider.privateKeyFile && !existsSync(provider.privateKeyFile)) {
      throw new ConfigError(`providers.${id}.privateKeyFile`, `cannot read ${provider.privateKeyFile}`);
    }
  }

  const publicUrl = (config.publicUrl ?? `http://${formatHost(config.host)}:${config.port}`).replace(/\/+$/, '');
  return deepFreeze({
    ...config,
    publicUrl,
    dataDir: isEmbedded ? dataDirOf(config.store) : 'data',
    ...(configFile ? { configFile } : {}),
  });
}

/** 32 raw bytes from a base64 or hex string; anything else is a configuration error. */
export function parseSecretKey(value: string, variable = 'FEEDPROXY_SECRET_KEY'): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(variable, 'must be 32 bytes, as 64 hex digits or 44 base64 characters');
  }
  return key;
}

/** The file path behind a `sqlite://path` store URL. */
export function sqlitePathOf(store: string): string {
  return store.replace(/^sqlite:\/\//, '');
}

/** The config with every secret replaced, for `feedproxy config` dumps and debug logs. */
export function redactConfig(config: Readonly<Config>): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) => (SECRET_PATHS.has(key) && value !== undefined ? '<redacted>' : value)),
  );
}

function readYaml(path: string, explicit: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    if (!explicit) return {};
    throw new ConfigError('FEEDPROXY_CONFIG', `cannot read ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError('FEEDPROXY_CONFIG', `${path} is not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (parsed == null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('FEEDPROXY_CONFIG', `${path} must hold a mapping at the top level`);
  }
  return parsed as Record<string, unknown>;
}

function readSecretFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    throw new ConfigError(variable, `cannot read ${path}`);
  }
}

/** `FEEDPROXY_PROVIDER_<ID>_CONSUMER_SECRET[_FILE]` and `…_CONSUMER_KEY` keep provider secrets out of the YAML. */
function readProviderSecretsFromEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const providers = (raw.providers ?? {}) as Record<string, Record<string, unknown>>;
  for (const [id, provider] of Object.entries(providers)) {
    if (provider == null || typeof provider !== 'object') continue;
    const prefix = `FEEDPROXY_PROVIDER_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
    for (const [suffix, field] of [
      ['CONSUMER_KEY', 'consumerKey'],
      ['CONSUMER_SECRET', 'consumerSecret'],
    ] as const) {
      const direct = env[prefix + suffix];
      const file = env[`${prefix}${suffix}_FILE`];
      if (direct) provider[field] = direct;
      else if (file) provider[field] = readSecretFile(`${prefix}${suffix}_FILE`, file);
    }
  }
}

function variableFor(instancePath: string, env: NodeJS.ProcessEnv): string {
  const path = instancePath.split('/').filter(Boolean);
  const named = Object.entries(ENV_PATHS).find(([, envPath]) => envPath.join('/') === path.slice(0, envPath.length).join('/'));
  // A value that came from the YAML file is named by its key there.
  if (!named || (env[named[0]] ?? '') === '') {
    if (!(named && FILE_VARIABLES.has(named[0]) && env[`${named[0]}_FILE`])) return path.filter((key) => !/^\d+$/.test(key)).join('.');
  }
  const top = path[0] ?? '';
  const entries = Object.entries(ENV_PATHS);
  const variable =
    entries.find(([, envPath]) => envPath.join('/') === path.join('/'))?.[0] ??
    entries.find(([, envPath]) => envPath.length === 1 && envPath[0] === top)?.[0];
  return variable ?? path.join('.');
}

/** What a pattern-checked value accepts, in words: a regular expression tells an operator nothing. */
const ACCEPTS: Record<string, string> = {
  store: 'accepts sqlite://PATH, redis://HOST:PORT or rediss://HOST:PORT',
  storePrefix: 'accepts letters, digits and _ . : -',
  publicUrl: 'accepts an http:// or https:// base URL, e.g. https://feeds.example.org',
  allowPrivate: 'accepts a comma list of host:port, e.g. 127.0.0.1:8081,[::1]:8081',
  providers: 'accepts provider ids of lowercase letters, digits, _ and -',
};

function describe(message: string, instancePath: string, value: unknown): string {
  const path = instancePath.split('/').filter(Boolean);
  const leaf = path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
  // Never echo a secret back, even a malformed one.
  const shown = SECRET_PATHS.has(path.at(-1) ?? '') || typeof leaf === 'object' ? '' : ` (got ${JSON.stringify(leaf)})`;
  return `${acceptedValues(path) ?? message}${shown}`;
}

/** "must be one of …" or "must be a whole number from … to …", read off the schema at `path`. */
function acceptedValues(path: string[]): string | undefined {
  let node: Record<string, unknown> | undefined = ConfigSchema as unknown as Record<string, unknown>;
  for (const key of path) {
    if (!node) return undefined;
    const properties = node.properties as Record<string, Record<string, unknown>> | undefined;
    if (properties?.[key]) node = properties[key];
    else if (node.items) node = node.items as Record<string, unknown>;
    else if (node.additionalProperties && typeof node.additionalProperties === 'object') node = node.additionalProperties as Record<string, unknown>;
    else if (node.patternProperties) node = Object.values(node.patternProperties as Record<string, Record<string, unknown>>)[0];
    else return undefined;
  }
  if (!node) return undefined;
  const accepts = ACCEPTS[path.filter((key) => !/^\d+$/.test(key)).join('.')];
  if (accepts) return accepts;
  const options = (node.anyOf as Array<Record<string, unknown>> | undefined)?.map((option) => option.const);
  if (options?.every((option) => typeof option === 'string')) return `must be one of ${options.join(', ')}`;
  if (node.type === 'integer' || node.type === 'number') {
    const low = node.minimum ?? node.exclusiveMinimum;
    const kind = node.type === 'integer' ? 'a whole number' : 'a number';
    return `must be ${kind}${low !== undefined ? ` from ${String(low)}${node.exclusiveMinimum !== undefined ? ' (exclusive)' : ''}` : ''}${node.maximum !== undefined ? ` to ${String(node.maximum)}` : ''}`;
  }
  if (node.type === 'boolean') return 'must be true or false';
  return undefined;
}

/** `true`, `false`, or proxy addresses / CIDRs: anything else would fail later, deep in Fastify. */
function checkTrustProxy(value: string): void {
  const valid = splitList(value).every((item) => {
    const [address = '', bits, extra] = item.split('/');
    if (extra !== undefined || !isIP(address)) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128));
  });
  if (!valid || splitList(value).length === 0) {
    throw new ConfigError('FEEDPROXY_TRUST_PROXY', `accepts true, false, or a comma list of proxy addresses or CIDRs, e.g. 127.0.0.1,10.0.0.0/8 (got ${JSON.stringify(value)})`);
  }
}

/** Warnings for FEEDPROXY_* variables and YAML keys we do not know, each naming the nearest known one. */
function unknownNames(env: NodeJS.ProcessEnv, raw: Record<string, unknown>, configFile: string | undefined): string[] {
  const warnings: string[] = [];
  const variables = [...Object.keys(ENV_PATHS), ...[...FILE_VARIABLES].map((name) => `${name}_FILE`), ...OTHER_VARIABLES];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('FEEDPROXY_') || variables.includes(name) || IGNORED_VARIABLE_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    warnings.push(`unknown variable ${name} is ignored${didYouMean(name, variables)}`);
  }
  const walk = (node: unknown, schema: Record<string, unknown>, path: string[]) => {
    const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
    if (!properties || node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const child = properties[key];
      if (!child) {
        warnings.push(`unknown key ${[...path, key].join('.')} in ${configFile} is ignored${didYouMean(key, Object.keys(properties), path)}`);
        continue;
      }
      if (key === 'providers' && path.length === 0 && value && typeof value === 'object') {
        for (const [id, provider] of Object.entries(value)) walk(provider, ProviderSchema as unknown as Record<string, unknown>, ['providers', id]);
      } else walk(value, child, [...path, key]);
    }
  };
  walk(raw, ConfigSchema as unknown as Record<string, unknown>, []);
  return warnings;
}

function didYouMean(name: string, known: string[], path: string[] = []): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean ${[...path, best].join('.')}?` : '';
}

/** Levenshtein distance, two rows at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    node[key] = typeof node[key] === 'object' && node[key] !== null ? node[key] : {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function dataDirOf(store: string): string {
  const path = sqlitePathOf(store);
  const slash = path.lastIndexOf('/');
  return slash > 0 ? path.slice(0, slash) : slash === 0 ? '/' : '.';
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Where the store is, safe to print: a Redis URL loses its password. */
export function describeStore(config: Readonly<Config>): string {
  if (config.store.startsWith('sqlite://')) return `sqlite ${sqlitePathOf(config.store)}`;
  try {
    const url = new URL(config.store);
    return `redis ${url.hostname}:${url.port || '6379'}${url.pathname.length > 1 ? url.pathname : ''} (prefix ${config.storePrefix})`;
  } catch {
    return 'redis';
  }
}

/** One line saying which configuration a command runs with: for cron logs, where the environment is a guess. */
export function describeConfigSource(config: Readonly<Config>): string {
  const file = config.configFile ? `config file ${config.configFile} + environment` : 'environment only (no config file)';
  const allow = config.allowPrivate.length ? config.allowPrivate.join(',') : 'none';
  return `${file}; store ${describeStore(config)}; allow-private ${allow}`;
}
