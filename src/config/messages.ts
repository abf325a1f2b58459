// What a configuration mistake says: the variable or YAML key it came from, what the setting accepts
// in words (read off the schema, never a regular expression), and, for a name we do not know, the
// nearest one we do. Pure: config.ts throws or warns with these strings.
import {
  ConfigSchema,
  ENV_PATHS,
  FILE_VARIABLES,
  IGNORED_VARIABLE_PREFIXES,
  OTHER_VARIABLES,
  ProviderSchema,
  SECRET_PATHS,
} from './schema.js';

/** The environment variable (when the value came from one) or the YAML key a schema error points at. */
export function variableFor(instancePath: string, env: NodeJS.ProcessEnv): string {
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

export function describe(message: string, instancePath: string, value: unknown): string {
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
    else if (node.additionalProperties && typeof node.additionalProperties === 'object')
      node = node.additionalProperties as Record<string, unknown>;
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

/** Warnings for FEEDPROXY_* variables and YAML keys we do not know, each naming the nearest known one. */
export function unknownNames(env: NodeJS.ProcessEnv, raw: Record<string, unknown>, configFile: string | undefined): string[] {
  const warnings: string[] = [];
  const variables = [...Object.keys(ENV_PATHS), ...[...FILE_VARIABLES].map((name) => `${name}_FILE`), ...OTHER_VARIABLES];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('FEEDPROXY_') || variables.includes(name) || IGNORED_VARIABLE_PREFIXES.some((prefix) => name.startsWith(prefix)))
      continue;
    warnings.push(`unknown variable ${name} is ignored${didYouMean(name, variables)}`);
  }
  const walk = (node: unknown, schema: Record<string, unknown>, path: string[]) => {
    const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
    if (!properties || node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const child = properties[key];
      if (!child) {
        warnings.push(
          `unknown key ${[...path, key].join('.')} in ${configFile} is ignored${didYouMean(key, Object.keys(properties), path)}`,
        );
        continue;
      }
      if (key === 'providers' && path.length === 0 && value && typeof value === 'object') {
        for (const [id, provider] of Object.entries(value))
          walk(provider, ProviderSchema as unknown as Record<string, unknown>, ['providers', id]);
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
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))
    ? `; did you mean ${[...path, best].join('.')}?`
    : '';
}

/** Levenshtein distance, two rows at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}
