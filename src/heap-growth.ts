// How far V8's heap may grow between full collections (config `memory.heapGrowthPercent`). V8 sets
// the next collection's threshold at up to 4× what was live after the last one when its heap limit
// is large (it derives that limit from the machine's RAM: ~4 GB on a 24 GB box), so a process
// holding ~110 MiB sat at 450–520 MiB of RSS at 100,000 sources (BENCHMARKS.md 5b, session 7).
// A fixed factor makes RSS follow what is live instead. It is a growth rule, not a ceiling: the
// heap limit stays V8's, so a burst of large documents costs collections, never an out-of-memory
// exit, unlike `--max-old-space-size`. V8 reads the flag at every collection, so setting it
// at start, before the heap has grown, is as good as passing it on the command line.
import { setFlagsFromString } from 'node:v8';

/** Applies the growth rule; 0 leaves V8's own (and any `--heap-growing-percent` on the command line). */
export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
