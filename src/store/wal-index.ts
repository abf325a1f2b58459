// Whether anything was committed to a SQLite database in WAL mode since the last look, told by one
// read of its WAL-index header: the change check before a public GET trusts memory (sqlite-store.ts)
// costs a pread, not a query through sqlite3's thread pool.
//
// Every commit, by any connection of any process, rewrites the WAL-index header at the start of
// `<database>-shm` (https://www.sqlite.org/walformat.html, "The WAL-Index Header": its transaction
// counter iChange, mxFrame and checksums; a WAL reset changes the salts), and every process of one
// database shares that file. This reads it as a plain file: no SQLite library of its own, so no
// second copy of SQLite's POSIX locks in the process (two copies do not see each other's locks; an
// earlier read-only connection of better-sqlite3 / node:sqlite did, bench/diagnoses.md 1, session 10).
// One rule remains, as for any descriptor of a SQLite file: closing it drops every lock the process
// holds on the file, so it is closed only after sqlite3's connection (sqlite-store.ts).
import { closeSync, openSync, readSync } from 'node:fs';

/** The WAL-index header: its two copies (2 × 48 bytes) at the start of `<database>-shm`. */
const WAL_INDEX_HEADER_BYTES = 96;
/** iVersion of the WAL-index format every SQLite 3.7.0+ writes. */
const WAL_INDEX_VERSION = 3007000;

export interface WalIndexHeader {
  /**
   * False when no connection can have committed since the last call (the header is the same); true
   * when one may have, on the first call, or when that cannot be told (no readable header in WAL form:
   * no WAL, a file this process cannot read). A commit after this read moves the header past what is
   * kept, so the next call sees it.
   */
  moved(): boolean;
  close(): void;
}

export function openWalIndexHeader(databasePath: string): WalIndexHeader {
  let fd: number;
  try {
    fd = openSync(`${databasePath}-shm`, 'r');
  } catch {
    return { moved: () => true, close: () => undefined };
  }
  const seen = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  const now = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  let known = false;
  return {
    moved() {
      const read = readSync(fd, now, 0, WAL_INDEX_HEADER_BYTES, 0);
      // iVersion and isInit (byte 12) of the first copy, in the machine's byte order as SQLite writes them.
      const valid = read === WAL_INDEX_HEADER_BYTES && now.readUInt32LE(0) === WAL_INDEX_VERSION && now[12] === 1;
      if (valid && known && now.equals(seen)) return false;
      now.copy(seen);
      known = valid;
      return true;
    },
    close: () => closeSync(fd),
  };
}
