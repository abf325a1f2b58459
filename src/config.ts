// The configuration, read once at start from the YAML file and the environment, validated against
// one schema (config/schema.ts) and frozen. This is the only module that reads process.env;
// everything else receives a Config. What a mistake says is worded in config/messages.ts.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Static } from 'typebox';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { describe, unknownNames, variableFor } from './config/messages.js';
import { ConfigSchema, ENV_PATHS, FILE_VARIABLES, SECRET_PATHS, type Config } from './config/schema.js';

export { ConfigSchema, type Config, type ProviderConfig } from './config/schema.js';

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
    throw new ConfigError(
      'http.requestTimeoutSeconds',
      `must be at least http.headersTimeoutSeconds (${config.http.headersTimeoutSeconds})`,
    );
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

  const publicUrl = publicBaseOf(config.publicUrl ?? `http://${formatHost(config.host)}:${config.port}`, variableFor('/publicUrl', env));
  return deepFreeze({
    ...config,
    publicUrl,
    dataDir: isEmbedded ? dataDirOf(config.store) : 'data',
    ...(configFile ? { configFile } : {}),
  });
}

/**
 * The public base URL as every link we publish writes it: parsed, so an internationalised host is
 * its ASCII (punycode) form and a non-ASCII path percent-encoded — what readers, validators and our
 * own WebSub hub (which takes printable ASCII topics only) compare — with no trailing slash.
 */
function publicBaseOf(value: string, variable: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(variable, 'accepts an http:// or https:// base URL, e.g. https://feeds.example.org');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError(variable, 'must be a base URL without a query, fragment or credentials, e.g. https://feeds.example.org');
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
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
  return JSON.parse(JSON.stringify(config, (key, value: unknown) => (SECRET_PATHS.has(key) && value !== undefined ? '<redacted>' : value)));
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

/** `true`, `false`, or proxy addresses / CIDRs: anything else would fail later, deep in Fastify. */
function checkTrustProxy(value: string): void {
  const valid = splitList(value).every((item) => {
    const [address = '', bits, extra] = item.split('/');
    if (extra !== undefined || !isIP(address)) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128));
  });
  if (!valid || splitList(value).length === 0) {
    throw new ConfigError(
      'FEEDPROXY_TRUST_PROXY',
      `accepts true, false, or a comma list of proxy addresses or CIDRs, e.g. 127.0.0.1,10.0.0.0/8 (got ${JSON.stringify(value)})`,
    );
  }
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
