// One refresh worker of the scale-out bench, in its own process: it opens the Redis store the
// parent filled (createDeps on the same config a `feedproxy serve --role worker` would use), says
// it is ready, and on `{pass: true}` runs one scheduler pass — refreshDueSources, as a tick does:
// workers on one prefix split the due sources by claims on the due index.
import { Writable } from 'node:stream';
import { loadConfig } from '../src/config.js';
import { createDeps, openStore } from '../src/deps.js';
import type { KeyValueStore } from '../src/store/kv.js';
import { createLogger } from '../src/logger.js';
import { refreshDueSources } from '../src/refresh/run-batch.js';
import { answerParent, tellReady } from './lib/child.js';
import { measure } from './lib/common.js';

export interface WorkerPass {
  wallMs: number;
  cpuMs: number;
  due: number;
  outcomes: Record<string, number>;
  /** Ids of the sources this worker fetched (every outcome but `skipped` and `deferred`). */
  fetchedIds: string[];
  /** Calls of the store interface (src/store/kv.ts) during the pass, by method: one is one round trip (a Lua script, a MULTI, a pipeline of one call). */
  storeCalls: Record<string, number>;
}

const discard = new Writable({
  write(_chunk, _encoding, callback) {
    callback();
  },
});

const config = loadConfig(process.env);
// The store the service would open, its calls counted by method.
const kv = await openStore(config);
let storeCalls: Record<string, number> = {};
for (const name of Object.keys(kv) as Array<keyof KeyValueStore>) {
  const method = kv[name];
  if (typeof method !== 'function' || name === 'watchRecords' || name === 'close') continue;
  (kv as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    storeCalls[name] = (storeCalls[name] ?? 0) + 1;
    return (method as (...args: unknown[]) => unknown).apply(kv, args);
  };
}
const deps = await createDeps(config, { logger: createLogger(config.logLevel, discard), kv });

answerParent(async (message) => {
  if (!message.pass) return {};
  storeCalls = {};
  const {
    value: results,
    wallMs,
    cpuMs,
  } = await measure(async () => {
    // Claiming is part of a scheduler tick, so it is inside the measured time.
    const results = await refreshDueSources(deps);
    return { due: results.length, results };
  });
  const outcomes: Record<string, number> = {};
  for (const result of results.results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
  const fetchedIds = results.results
    .filter((result) => result.outcome !== 'skipped' && result.outcome !== 'deferred')
    .map((result) => result.source.id);
  return { wallMs, cpuMs, due: results.due, outcomes, fetchedIds, storeCalls } satisfies WorkerPass;
});
process.once('disconnect', () => void deps.close().then(() => process.exit(0)));
tellReady({ pid: process.pid });
