// What the hub's pending verifications of intent may hold, in bytes, per client address and in all.
// A verification waits on a stranger's callback for up to the fetch timeout, and anyone on the
// internet can start one: counting them is not enough, since a count says nothing about what each
// holds. Each is charged the most it can hold (its answer cap, its own request, its connection), so
// the sum is a bound on memory the hub's strangers can pin, whatever their callbacks answer.

/** The most of a verification answer read: a challenge is 32 characters (verify-intent.ts). */
export const VERIFICATION_ANSWER_BYTES = 4 * 1024;
/**
 * The rest of what a verification in flight holds beyond its answer and its request's strings: an
 * undici socket and request, read buffers, a timer. An estimate, on the high side.
 */
const CONNECTION_BYTES = 16 * 1024;

export interface VerificationBudgetLimits {
  /** Bytes all pending verifications may be charged together. */
  maxBytes: number;
  /** Bytes the verifications one client address asked for may be charged together. */
  maxBytesPerAddress: number;
}

/** 100 verifications of the largest accepted request (4 KiB of URLs and secret) fit in all; a tenth per address. */
export const DEFAULT_VERIFICATION_BUDGET: VerificationBudgetLimits = { maxBytes: 2.5 * 1024 * 1024, maxBytesPerAddress: 256 * 1024 };

export interface VerificationBudget {
  /**
   * Charges a verification asked for by `address` (already grouped: an IPv6 /64 is one address).
   * Returns its release, to call once when it settles, or why it does not fit.
   */
  reserve(address: string, strings: Array<string | undefined>): { release: () => void } | { refused: 'address' | 'all' };
  /** Bytes charged to pending verifications now (for tests and the red-team figures). */
  heldBytes(): number;
  /** Bytes charged to one address now. */
  heldBytesOf(address: string): number;
}

export function createVerificationBudget(limits: VerificationBudgetLimits = DEFAULT_VERIFICATION_BUDGET): VerificationBudget {
  const perAddress = new Map<string, number>();
  let total = 0;
  return {
    reserve(address, strings) {
      const cost =
        VERIFICATION_ANSWER_BYTES +
        CONNECTION_BYTES +
        strings.reduce((sum, text) => sum + (text === undefined ? 0 : Buffer.byteLength(text)), 0);
      const mine = perAddress.get(address) ?? 0;
      if (mine + cost > limits.maxBytesPerAddress) return { refused: 'address' };
      if (total + cost > limits.maxBytes) return { refused: 'all' };
      perAddress.set(address, mine + cost);
      total += cost;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          total -= cost;
          const left = (perAddress.get(address) ?? cost) - cost;
          // Addresses with nothing pending are forgotten: the map is as large as the pending set.
          if (left <= 0) perAddress.delete(address);
          else perAddress.set(address, left);
        },
      };
    },
    heldBytes: () => total,
    heldBytesOf: (address) => perAddress.get(address) ?? 0,
  };
}
