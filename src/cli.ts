#!/usr/bin/env node
// feedproxy serve [--role web|worker|all] | refresh [--all] [--source ID] | users create NAME|list|reset-key ID
//   | opml import FILE --user ID | opml export --user ID
// `refresh` is the cron entry point: it never starts Fastify.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, describeConfigSource, loadConfig, parseSecretKey, type Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { createLogger } from './logger.js';
import { isCodedError } from './errors.js';
import { exportOpml } from './opml/export-opml.js';
import { importOpml } from './opml/import-opml.js';
import { decodeBody } from './parse/index.js';
import { refreshBatch, refreshDueSources } from './refresh/run-batch.js';
import type { RefreshResult } from './refresh/refresh-source.js';
import { serve } from './server.js';
import type { SourceRecord } from './model.js';
import { createUser, listUsersWithCounts, resetApiKey } from './services/users.js';
import { resealAll } from './services/rotate-key.js';
import { createVault } from './vault/seal.js';
import { loadOrCreateSecretKey } from './vault/secret-key.js';
import { VERSION } from './version.js';

const USAGE = `feedproxy ${VERSION}

Usage:
  feedproxy serve [--role ROLE]       run the HTTP service and the refresh scheduler; --role web
                                      (HTTP only), worker (scheduler, with /healthz /readyz /metrics)
                                      or all (default; also FEEDPROXY_ROLE)
  feedproxy refresh [--all] [--source ID]
                                      refresh due sources once and exit (cron); --all forces every source
  feedproxy users create NAME         create a user and print its id and API key (shown once)
  feedproxy users list                every user: id, name, created, sources, feeds
  feedproxy users reset-key ID|NAME   print a new API key (shown once); the old one stops working
  feedproxy opml import FILE --user ID
                                      add every feed of an OPML file as a source of the user, one
                                      merged feed per category; exit 1 when every outline failed
  feedproxy opml export --user ID     print the user's merged feeds (public URLs) as OPML 2.0
  feedproxy keys rotate [--new-key-file FILE]
                                      re-seal every secret in the store with a new key

Configuration comes from the environment and config/feedproxy.yaml (see README).`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === 'version') {
    console.log(VERSION);
    return 0;
  }
  const config = loadConfig(process.env, (message) => console.error(`feedproxy: warning: ${message}`));
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({ args: rest, options: { role: { type: 'string' } } });
      const role = values.role ?? config.role;
      if (role !== 'all' && role !== 'web' && role !== 'worker') {
        console.error(`feedproxy: --role must be web, worker or all (got "${role}")`);
        return 2;
      }
      await serve(config, role);
      return -1; // keep running
    }
    case 'refresh':
      return refresh(config, rest);
    case 'users':
      return users(config, rest);
    case 'keys':
      return keys(config, rest);
    case 'opml':
      return opml(config, rest);
    default:
      console.error(`feedproxy: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function refresh(config: Readonly<Config>, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { all: { type: 'boolean', default: false }, source: { type: 'string', multiple: true } } });
  const deps = await openDeps(config);
  const started = Date.now();
  try {
    const explicit = values.all || Boolean(values.source?.length);
    // Named sources are read by id, and only `--all` lists the registry; the default (cron) run
    // claims what the due index says is due, like the server's scheduler beside it.
    let picked: SourceRecord[] = [];
    if (values.source?.length) {
      const found = await deps.registry.getSources(values.source);
      const missing = values.source.filter((_, index) => found[index] === undefined);
      if (missing.length > 0) {
        console.error('feedproxy: no source with id ' + missing.join(', '));
        return 2;
      }
      picked = found as SourceRecord[];
    } else if (values.all) {
      picked = (await deps.registry.listAllSources()).filter((source) => source.status !== 'disabled');
    }
    // On a terminal, a progress line per source (`[3/40] updated  id  title`); in cron, only the summary.
    const tty = Boolean(process.stdout.isTTY);
    let done = 0;
    const counts = { updated: 0, unchanged: 0, failed: 0, skipped: 0 };
    const onResult = (result: RefreshResult) => {
        if (result.outcome === 'updated') counts.updated += 1;
        else if (result.outcome === 'unchanged') counts.unchanged += 1;
        else if (result.outcome === 'failed') counts.failed += 1;
        else counts.skipped += 1;
        done += 1;
        if (tty) {
          const detail = result.outcome === 'failed' ? `: ${result.error?.message ?? result.source.lastError ?? ''}` : '';
          const of = explicit ? `/${picked.length}` : '';
          console.log(`[${done}${of}] ${result.outcome.padEnd(9)} ${result.source.id}  ${result.source.title}${detail}`);
        }
    };
    if (explicit) {
      await refreshBatch(deps, picked, { concurrency: config.refresh.concurrency, perHost: config.refresh.perHostConcurrency, force: true, onResult });
    } else {
      await refreshDueSources(deps, { onResult });
    }
    // Cron runs with almost no environment: say what this run actually used.
    console.log(`configuration: ${describeConfigSource(config)}`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const skipped = counts.skipped ? `, skipped ${counts.skipped}` : '';
    console.log(`refreshed ${counts.updated}, unchanged ${counts.unchanged}, failed ${counts.failed}${skipped} in ${seconds}s`);
    return counts.failed > 0 ? 1 : 0;
  } finally {
    await deps.close();
  }
}

const USERS_USAGE = 'usage: feedproxy users create NAME | feedproxy users list | feedproxy users reset-key ID|NAME';

async function users(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...names] = args;
  const name = names.join(' ').trim();
  const valid = action === 'list' ? names.length === 0 : (action === 'create' || action === 'reset-key') && name !== '';
  if (!valid) {
    console.error(USERS_USAGE);
    return 2;
  }
  const deps = await openDeps(config);
  try {
    if (action === 'list') {
      const rows = (await listUsersWithCounts(deps)).map(({ user, sources, feeds }) => [user.id, user.name, user.createdAt, String(sources), String(feeds)]);
      printTable(['ID', 'NAME', 'CREATED', 'SOURCES', 'FEEDS'], rows);
      return 0;
    }
    let result;
    try {
      result = action === 'create' ? await createUser(deps, name) : await resetApiKey(deps, name);
    } catch (error) {
      if (!isCodedError(error)) throw error;
      console.error(`feedproxy: ${error.message}`);
      return 2;
    }
    const { user, apiKey } = result;
    console.log(action === 'create' ? `created user ${user.name} (id ${user.id})` : `new API key for ${user.name} (id ${user.id}); the old key no longer works`);
    console.log(`user id: ${user.id}`);
    console.log(`API key (shown once, keep it safe): ${apiKey}`);
    return 0;
  } finally {
    await deps.close();
  }
}

/** Columns padded to their widest cell: readable at a terminal, and `awk '{print $1}'` still works. */
function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) console.log(row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
}

const OPML_USAGE = 'usage: feedproxy opml import FILE --user ID | feedproxy opml export --user ID';
/** The API's bound on an OPML body, kept for files too. */
const MAX_OPML_FILE_BYTES = 1024 * 1024;

/** `opml import` prints one line per outline and a summary; `opml export` prints the document. */
async function opml(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { user: { type: 'string' } }, allowPositionals: true });
  } catch (error) {
    console.error(`feedproxy: ${(error as Error).message}\n${OPML_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  const valid = values.user && (action === 'import' ? positionals.length === 1 : action === 'export' && positionals.length === 0);
  if (!valid) {
    console.error(OPML_USAGE);
    return 2;
  }
  let text: string | undefined;
  if (action === 'import') {
    try {
      if (statSync(file!).size > MAX_OPML_FILE_BYTES) throw new Error(`larger than ${MAX_OPML_FILE_BYTES} bytes (1 MiB)`);
      text = decodeBody(readFileSync(file!));
    } catch (error) {
      console.error(`feedproxy: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return 2;
    }
  }
  const deps = await openDeps(config);
  try {
    const userId = values.user!;
    if (!(await deps.registry.getUser(userId))) {
      console.error(`feedproxy: no user with id ${userId}`);
      return 2;
    }
    if (text === undefined) {
      process.stdout.write(await exportOpml(deps, userId));
      return 0;
    }
    let report;
    try {
      report = await importOpml(deps, userId, text);
    } catch (error) {
      if (!isCodedError(error)) throw error;
      console.error(`feedproxy: ${file}: ${error.message}`);
      return 2;
    }
    for (const outline of report.outlines) {
      const where = outline.category ? `  [${outline.category}]` : '';
      const detail = outline.error ? `: ${outline.error.message}` : '';
      console.log(`${outline.result.padEnd(9)} ${outline.sourceId ?? '-'}  ${outline.title}  ${outline.url}${where}${detail}`);
    }
    for (const feed of report.feeds) console.log(`feed      ${feed.id}  ${feed.title}`);
    for (const failure of report.feedErrors) console.log(`feed failed  ${failure.title}: ${failure.error.message}`);
    const { added, duplicate, failed } = report.summary;
    const feeds = report.feeds.length;
    console.log(`added ${added}, duplicate ${duplicate}, failed ${failed}; ${feeds} category feed${feeds === 1 ? '' : 's'}`);
    return failed > 0 && failed === report.outlines.length ? 1 : 0;
  } finally {
    await deps.close();
  }
}

/**
 * Embedded mode (key in data/secret.key): the new key (generated, or read from --new-key-file) is
 * written to secret.key.new first, every secret is re-sealed, then the files are swapped and the old
 * key kept as secret.key.old. An interrupted run is simply run again: it picks up secret.key.new.
 * With FEEDPROXY_SECRET_KEY from the environment, --new-key-file is required and the operator swaps
 * the variable afterwards (FEEDPROXY_PREVIOUS_SECRET_KEY lets instances read both meanwhile).
 */
async function keys(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { 'new-key-file': { type: 'string' } } });
  if (action !== 'rotate') {
    console.error('usage: feedproxy keys rotate [--new-key-file FILE]');
    return 2;
  }
  const keyFile = config.secretKey === undefined && config.store.startsWith('sqlite://') ? join(config.dataDir, 'secret.key') : undefined;
  const pendingFile = keyFile && `${keyFile}.new`;
  let newKey: Buffer;
  if (values['new-key-file']) newKey = parseSecretKey(readFileSync(values['new-key-file'], 'utf8'));
  else if (pendingFile && existsSync(pendingFile)) newKey = parseSecretKey(readFileSync(pendingFile, 'utf8'));
  else if (keyFile) newKey = randomBytes(32);
  else {
    console.error('feedproxy: keys rotate needs --new-key-file FILE when the key comes from FEEDPROXY_SECRET_KEY');
    return 2;
  }
  if (pendingFile) writeFileSync(pendingFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });

  const deps = await openDeps(config);
  try {
    const currentKey = config.secretKey !== undefined ? parseSecretKey(config.secretKey) : loadOrCreateSecretKey(config.dataDir);
    const previous = config.previousSecretKey !== undefined ? [parseSecretKey(config.previousSecretKey)] : [];
    // Opens values under the current, the previous or (after an interrupted run) the new key.
    const from = createVault(currentKey, [...previous, newKey]);
    const count = await resealAll(deps.registry, from, createVault(newKey));
    console.log(`re-sealed ${count.sources} sources, ${count.connections} connections and ${count.subscriptions} WebSub subscriptions with the new key`);
  } finally {
    await deps.close();
  }
  if (keyFile && pendingFile) {
    renameSync(keyFile, `${keyFile}.old`);
    renameSync(pendingFile, keyFile);
    console.log(`the new key is in ${keyFile}; the old one is in ${keyFile}.old (delete it once no backup needs it)`);
  } else {
    console.log('now start every instance with the new key as FEEDPROXY_SECRET_KEY (or _FILE)');
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`feedproxy: configuration error: ${error.message}`);
      process.exit(2);
    }
    // node:util parseArgs: an unknown or malformed option is a usage error, not a failure.
    if (String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`feedproxy: ${(error as Error).message}; see feedproxy --help`);
      process.exit(2);
    }
    console.error(`feedproxy: ${(error as Error).message}`);
    process.exit(1);
  },
);

/** A command's dependencies, logging to stderr: stdout carries the command's own output (keys, OPML, reports). */
function openDeps(config: Readonly<Config>): Promise<Deps> {
  return createDeps(config, { logger: createLogger(config.logLevel, process.stderr) });
}
