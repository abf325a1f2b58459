// How far V8's heap may grow between full collections (config `memory.heapGrowthPercent`). V8 sets
// the next collection's threshold at up to 4× what was live after the last one when its heap limit
// is large (it derives that limit from the machine's RAM: ~4 GB on a 24 GB box), so a process
// holding ~110 MiB reached 470–520 MiB of RSS at 100,000 sources (BENCHMARKS.md 5b, session 7).
// A fixed factor makes RSS follow what is live instead. It is a growth rule, not a ceiling: the
// heap limit stays V8's, so a burst of large documents costs collections, never an out-of-memory
// exit, unlike `--max-old-space-size`. V8 reads the flag whenever it sets the next threshold (after
// each full collection), so setting it at run time works as on the command line.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/**
 * Slack kept whatever the factor: on a small heap 1.5× is a few MiB of room, and a full collection
 * every few MiB allocated cost a refresh pass of 150 sources ~35% more CPU (session 7).
 */
export const MIN_SLACK_BYTES = 64 * 1024 * 1024;
/** V8's own largest factor (4×): past it the rule would grow the heap more than V8 does. */
const MAX_PERCENT = 300;

let applied = false;

/** The percent that keeps `percent` of `liveBytes` as slack, and at least MIN_SLACK_BYTES unless that passes V8's own 4× (MAX_PERCENT). */
export function growthPercentFor(percent: number, liveBytes: number): number {
  const forSlack = Math.ceil((MIN_SLACK_BYTES / Math.max(liveBytes, 1)) * 100);
  return Math.min(MAX_PERCENT, Math.max(percent, forSlack));
}

/**
 * Applies the growth rule for the rest of the process, and re-derives it after every full
 * collection from what survived it. 0 leaves V8's own rule (and any `--heap-growing-percent` on
 * the command line). Applies once per process (the CLI and serve() both call it).
 */
export function applyHeapGrowth(percent: number): void {
  if (percent <= 0 || applied) return;
  applied = true;
  let current = 0;
  const follow = () => {
    const next = growthPercentFor(percent, getHeapStatistics().used_heap_size);
    if (next !== current) setFlagsFromString(`--heap-growing-percent=${(current = next)}`);
  };
  follow();
  const observer = new PerformanceObserver((list) => {
    const entries = list.getEntries() as Array<{ detail?: { kind?: number } }>;
    if (entries.some((entry) => entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) follow();
  });
  observer.observe({ entryTypes: ['gc'] });
}
