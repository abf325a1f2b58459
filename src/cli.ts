#!/usr/bin/env node
// feedproxy serve [--role web|worker|all] | refresh [--all] [--source ID] | users create NAME
// `refresh` is the cron entry point: it never starts Fastify.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDeps } from './deps.js';
import { dueSources, refreshBatch } from './refresh/run-batch.js';
import type { RefreshResult } from './refresh/refresh-source.js';
import { serve } from './server.js';
import { createUser } from './services/users.js';
import { VERSION } from './version.js';

const USAGE = `feedproxy ${VERSION}

Usage:
  feedproxy serve [--role ROLE]       run the HTTP service and the refresh scheduler; --role web
                                      (HTTP only), worker (scheduler, with /healthz /readyz /metrics)
                                      or all (default; also FEEDPROXY_ROLE)
  feedproxy refresh [--all] [--source ID]
                                      refresh due sources once and exit (cron); --all forces every source
  feedproxy users create NAME         create a user and print its API key (shown once)

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
  const config = loadConfig();
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
    default:
      console.error(`feedproxy: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function refresh(config: Readonly<Config>, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { all: { type: 'boolean', default: false }, source: { type: 'string', multiple: true } } });
  const deps = await createDeps(config);
  const started = Date.now();
  try {
    const all = await deps.registry.listAllSources();
    const picked = values.source?.length
      ? all.filter((source) => values.source!.includes(source.id))
      : values.all
        ? all.filter((source) => source.status !== 'disabled')
        : dueSources(all, deps.now());
    if (values.source?.length && picked.length !== values.source.length) {
      console.error('feedproxy: no source with id ' + values.source.filter((id) => !picked.some((source) => source.id === id)).join(', '));
      return 2;
    }
    const explicit = values.all || Boolean(values.source?.length);
    // On a terminal, a progress line per source (`[3/40] updated  id  title`); in cron, only the summary.
    const tty = Boolean(process.stdout.isTTY);
    let done = 0;
    const counts = { updated: 0, unchanged: 0, failed: 0, skipped: 0 };
    await refreshBatch(deps, picked, {
      concurrency: config.refresh.concurrency,
      perHost: config.refresh.perHostConcurrency,
      force: explicit,
      onlyIfDue: !explicit,
      onResult(result: RefreshResult) {
        if (result.outcome === 'updated') counts.updated += 1;
        else if (result.outcome === 'unchanged') counts.unchanged += 1;
        else if (result.outcome === 'failed') counts.failed += 1;
        else counts.skipped += 1;
        done += 1;
        if (tty) {
          const detail = result.outcome === 'failed' ? `: ${result.error?.message ?? result.source.lastError ?? ''}` : '';
          console.log(`[${done}/${picked.length}] ${result.outcome.padEnd(9)} ${result.source.id}  ${result.source.title}${detail}`);
        }
      },
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const skipped = counts.skipped ? `, skipped ${counts.skipped}` : '';
    console.log(`refreshed ${counts.updated}, unchanged ${counts.unchanged}, failed ${counts.failed}${skipped} in ${seconds}s`);
    return counts.failed > 0 ? 1 : 0;
  } finally {
    await deps.close();
  }
}

async function users(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...names] = args;
  const name = names.join(' ').trim();
  if (action !== 'create' || !name) {
    console.error('usage: feedproxy users create NAME');
    return 2;
  }
  const deps = await createDeps(config);
  try {
    const { user, apiKey } = await createUser(deps, name);
    console.log(`created user ${user.name} (id ${user.id})`);
    console.log(`API key (shown once, keep it safe): ${apiKey}`);
    return 0;
  } finally {
    await deps.close();
  }
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
    console.error(`feedproxy: ${(error as Error).message}`);
    process.exit(1);
  },
);
