// How far V8's heap may grow between full collections (config `memory.heapGrowthPercent`). V8 sets
// the next collection's threshold at up to 4× what was live after the last one when its heap limit
// is large (it derives that limit from the machine's RAM: ~4 GB on a 24 GB box), so a process
// holding ~110 MiB reached 470–520 MiB of RSS at 100,000 sources (BENCHMARKS.md 5b, session 7).
// A fixed factor makes RSS follow what is live instead. It is a growth rule, not a ceiling: the
// heap limit stays V8's, so a burst of large documents costs collections, never an out-of-memory
// exit, unlike `--max-old-space-size`. V8 reads the flag whenever it sets the next threshold (after
// each full collection), so setting it at run time works as on the command line.
//
// The rule sets when V8 collects while the process works; once it goes idle nothing allocates, so
// nothing collects, and the heap stays at whatever it had grown to (settled 310 MiB at 100,000
// sources, ~70 MiB of it garbage, BENCHMARKS.md 5b). So an idle process collects once, the way V8's
// memory reducer does in a browser tab left in the background.
import { constants, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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
  collectWhenIdle();
}

export interface IdleCollectionOptions {
  /** How often the event loop's use is sampled. */
  windowMs?: number;
  /** Quiet windows in a row before the collection. */
  quietWindows?: number;
  /** Called after each idle collection with the heap's size before and after (bytes). */
  onCollected?: (before: number, after: number) => void;
}

/** A window is quiet when the event loop was busy less than this share of it (a scheduler tick is ~0.1%). */
const QUIET_UTILIZATION = 0.02;
/**
 * Garbage (heap in use beyond what the last full collection found live), or heap held empty (Node
 * 24's V8 keeps the pages a collection freed), below which an idle collection is not worth its
 * pause. An idle instance's scheduler ticks make a few KB a second: it collects again only after
 * hours of idling, or after work.
 */
const WORTH_COLLECTING_BYTES = 16 * 1024 * 1024;

/**
 * Once the event loop has been nearly idle for `quietWindows` windows in a row and the heap holds
 * more than WORTH_COLLECTING_BYTES of garbage or of empty pages, runs one
 * full collection that also gives the freed pages back to the system (V8's "last resort" flavour:
 * tens of milliseconds at ~100 MiB live, paid while nothing waits). Then waits for the heap to grow
 * again. The timer never keeps the process alive. Returns a function that stops it.
 */
export function collectWhenIdle(options: IdleCollectionOptions = {}): () => void {
  const { windowMs = 5_000, quietWindows = 2, onCollected } = options;
  const collect = fullCollection();
  let liveAfterCollection = getHeapStatistics().used_heap_size;
  const observer = new PerformanceObserver((list) => {
    const entries = list.getEntries() as Array<{ detail?: { kind?: number } }>;
    if (entries.some((entry) => entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR))
      liveAfterCollection = getHeapStatistics().used_heap_size;
  });
  observer.observe({ entryTypes: ['gc'] });
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let quiet = 0;
  let heldAfterIdleCollection = 0;
  const timer = setInterval(() => {
    const window = performance.eventLoopUtilization(last);
    last = performance.eventLoopUtilization();
    quiet = window.utilization < QUIET_UTILIZATION ? quiet + 1 : 0;
    if (quiet < quietWindows) return;
    const { used_heap_size: used, total_heap_size: before } = getHeapStatistics();
    const garbage = used - liveAfterCollection >= WORTH_COLLECTING_BYTES;
    // Empty pages count once they grew past what the last idle collection left (some always stay).
    const empty = before - used >= WORTH_COLLECTING_BYTES && before >= heldAfterIdleCollection + WORTH_COLLECTING_BYTES;
    if (!garbage && !empty) return;
    collect();
    const after = getHeapStatistics().total_heap_size;
    heldAfterIdleCollection = after;
    liveAfterCollection = getHeapStatistics().used_heap_size;
    // The collection's own time is no sign of work: the next window starts after it.
    last = performance.eventLoopUtilization();
    onCollected?.(before, after);
  }, windowMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    observer.disconnect();
  };
}

/**
 * V8's full collection, without `--expose-gc` on the command line: the flag is set for the moment
 * it takes to fetch the function from a fresh context (where V8 installs it), then unset, so no
 * code of ours or of a dependency sees a global `gc`. The call differs by Node line: Node 20
 * collects on a plain `gc()` and ignores the options, and Node 24 collects on a plain `gc()` but
 * gives the pages back only on the "last-resort" flavour (measured: 320 MiB of RSS kept at 4 MiB
 * live, against 64 MiB). Node 22 gets 24's call (not measured here).
 */
function fullCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options?: object) => void;
  setFlagsFromString('--no-expose-gc');
  // One collection, not two: Node 20's plain one already gives the pages back.
  if (Number(process.versions.node.split('.')[0]) < 22) return () => gc();
  return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
