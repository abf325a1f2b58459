// Sanitised HTML and plain text by input, remembered across refreshes. A refresh re-reads the whole
// document although usually one entry of 10–100 is new, and sanitising is a quarter of a refresh's
// CPU (BENCHMARKS.md, bench 2, fix 2.1): the same HTML from the same source, against the same base,
// cleans to the same output, so it is cleaned once. In memory only, bounded by total size; the key
// holds a hash, never the input.
import { createHash } from 'node:crypto';

/** Characters of remembered output (UTF-16: about twice as many bytes). */
const MAX_CHARS = 16 * 1024 * 1024;
/** Inputs this short cost less to clean than to hash and look up. */
const MIN_INPUT_CHARS = 64;

export interface SanitizeMemo {
  /** `compute()` for this input, or what it gave last time. `scope` names everything else the output depends on. */
  remember(kind: string, scope: string, input: string, compute: () => string): string;
}

export function createSanitizeMemo(maxChars = MAX_CHARS): SanitizeMemo {
  const outputs = new Map<string, string>();
  let chars = 0;
  return {
    remember(kind, scope, input, compute) {
      if (input.length < MIN_INPUT_CHARS) return compute();
      const key = createHash('sha256').update(kind).update('\0').update(scope).update('\0').update(input).digest('base64url');
      const known = outputs.get(key);
      if (known !== undefined) {
        // Most recently used last: eviction below takes the oldest first.
        outputs.delete(key);
        outputs.set(key, known);
        return known;
      }
      const output = compute();
      if (output.length > maxChars / 16) return output; // one huge entry must not flush the rest
      outputs.set(key, output);
      chars += output.length;
      for (const [oldKey, oldOutput] of outputs) {
        if (chars <= maxChars) break;
        outputs.delete(oldKey);
        chars -= oldOutput.length;
      }
      return output;
    },
  };
}
