// The layout rules docs/architecture.md states ("who may import whom", one file per third-party
// library), read off the real imports of src/ so the page cannot drift from the code unnoticed.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

interface Import {
  /** The importing file, relative to src/ (e.g. `refresh/run-batch.ts`). */
  file: string;
  /** A module of ours relative to src/ without extension (e.g. `store/registry`), or a package name. */
  target: string;
  ours: boolean;
  /** `import type …` / `export type …`: erased at build time, no runtime dependency. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(path: string): Import[] {
  const file = relative(SRC, path);
  const text = readFileSync(path, 'utf8');
  const found: Import[] = [];
  const pattern = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[3] ?? match[4]!;
    const typeOnly = Boolean(match[2]);
    if (specifier.startsWith('.')) {
      const target = relative(SRC, resolve(dirname(path), specifier)).replace(/\.js$/, '');
      found.push({ file, target, ours: true, typeOnly });
    } else {
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      found.push({ file, target: name, ours: false, typeOnly });
    }
  }
  return found;
}

const IMPORTS = sourceFiles(SRC).flatMap(importsOf);
/** Whether a file (`x.ts`) or a target (`x`) is the module `prefix` or inside the folder `prefix/`. */
const under = (prefix: string) => (name: string) => name === prefix || name === `${prefix}.ts` || name.startsWith(`${prefix}/`);

/** Files (relative to src/) that load `pkg` at run time. */
function loaders(pkg: string): string[] {
  return [...new Set(IMPORTS.filter((i) => !i.ours && !i.typeOnly && i.target === pkg).map((i) => i.file))].sort();
}

describe('the layout docs/architecture.md describes', () => {
  it('finds the imports it checks (the scanner reads real files)', () => {
    expect(IMPORTS.length).toBeGreaterThan(300);
    expect(loaders('fastify').length).toBeGreaterThan(0);
    expect(IMPORTS.some((i) => i.file === 'refresh/run-batch.ts' && i.target === 'model/source-policy')).toBe(true);
  });

  it('loads each wrapped third-party library in one place', () => {
    expect(loaders('oauth-1.0a')).toEqual(['vault/oauth1.ts']);
    expect(loaders('undici')).toEqual(['fetch/create-fetcher.ts']);
    expect(loaders('fast-xml-parser')).toEqual(['xml/xml-tree.ts']);
    expect(loaders('chardet')).toEqual(['parse/decode-body.ts']);
    expect(loaders('prom-client')).toEqual(['metrics.ts']);
    expect(loaders('helmet')).toEqual(['http-security.ts']);
    for (const pkg of ['keyv', '@keyv/sqlite', '@keyv/redis']) expect(loaders(pkg).every(under('store'))).toBe(true);
    // keyv's SQLite adapter runs on sqlite3's connection that sqlite-store.ts opens (statements kept prepared).
    expect(loaders('sqlite3')).toEqual(['store/sqlite-store.ts']);
    // feedsmith: parse/ alone (parse-feed.ts and detect-format.ts load it; the normalisers name its types).
    expect(IMPORTS.filter((i) => i.target === 'feedsmith').every((i) => under('parse')(i.file))).toBe(true);
  });

  it('lets only app.ts, http-security.ts and routes/ import Fastify and its plugins', () => {
    // @fastify/error is the coded-error factory errors.ts builds on, not the web framework.
    const outside = IMPORTS.filter((i) => !i.ours && /^(fastify|@fastify\/)/.test(i.target) && i.target !== '@fastify/error').map(
      (i) => i.file,
    );
    expect(outside.filter((file) => !['app.ts', 'http-security.ts'].includes(file) && !under('routes')(file))).toEqual([]);
  });

  it('keeps the model free of our other modules', () => {
    const model = IMPORTS.filter((i) => i.ours && (under('model')(i.file) || i.file === 'model.ts'));
    expect(model.filter((i) => !under('model')(i.target))).toEqual([]);
  });

  it('keeps fetch/ to errors, render/ to the model, pipeline and text, and the lower layers off routes/', () => {
    const ours = IMPORTS.filter((i) => i.ours);
    const fetchOut = ours.filter((i) => under('fetch')(i.file) && !under('fetch')(i.target) && i.target !== 'errors');
    expect(fetchOut).toEqual([]);
    const renderOut = ours.filter(
      (i) => under('render')(i.file) && ![under('render'), under('model'), under('pipeline'), under('text')].some((ok) => ok(i.target)),
    );
    expect(renderOut).toEqual([]);
    const lower = ['refresh', 'pipeline', 'parse', 'render', 'store'].map(under);
    expect(ours.filter((i) => lower.some((inLayer) => inLayer(i.file)) && under('routes')(i.target))).toEqual([]);
  });

  it('keeps the vault off the store, services and WebSub (key rotation walks the aggregates from services/)', () => {
    const vaultOut = IMPORTS.filter(
      (i) => i.ours && under('vault')(i.file) && ['store', 'services', 'websub'].some((dir) => under(dir)(i.target)),
    );
    expect(vaultOut).toEqual([]);
  });
});
