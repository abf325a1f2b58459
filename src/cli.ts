#!/usr/bin/env node
// feedproxy serve [--role web|worker|all] | refresh [--all] [--source ID] | users create NAME|list|reset-key ID
//   | opml import FILE --user ID | opml export --user ID
// `refresh` is the cron entry point: it never starts Fastify. This file parses the command line and
// maps failures to exit codes (2: usage or configuration, 1: failure); each command is in cli/.
import { parseArgs } from 'node:util';
import { keys } from './cli/keys.js';
import { opml } from './cli/opml.js';
import { refresh } from './cli/refresh.js';
import { users } from './cli/users.js';
import { ConfigError, loadConfig } from './config.js';
import { applyHeapGrowth } from './heap-growth.js';
import { serve } from './server.js';
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
  // Every command: `refresh --all` and an OPML import churn through as much as the service does.
  applyHeapGrowth(config.memory.heapGrowthPercent);
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
