import type { Config } from '../config.js';
import { createDeps, type Deps } from '../deps.js';
import { createLogger } from '../logger.js';

/** A command's dependencies, logging to stderr: stdout carries the command's own output (keys, OPML, reports). */
export function openDeps(config: Readonly<Config>): Promise<Deps> {
  return createDeps(config, { logger: createLogger(config.logLevel, process.stderr) });
}
