// What a string past V8's large-object size costs on this machine: CPU a string made and filled,
// and a store write and read of a value that size (SQLite store, 50 keys rewritten), at sizes
// around 128 KiB. Strings past it get pages of their own, mapped on creation and unmapped when
// collected: each page's first touch is a fault, which a virtual machine can make dear.
//   npx tsx bench/large-strings.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'feedproxy-large-strings-'));
const store = await openSqliteStore(join(dir, 'store.sqlite'));
const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const ROUNDS = 200;
try {
  for (const kib of [100, 120, 125, 130, 135, 150, 250]) {
    const text = 'y'.repeat(kib * 1024 - 20);
    let start = cpuMicros();
    for (let index = 0; index < ROUNDS; index++) await store.setMany([[`probe:${kib}:${index % 50}`, text]]);
    const write = (cpuMicros() - start) / ROUNDS;
    start = cpuMicros();
    for (let index = 0; index < ROUNDS; index++) await store.get(`probe:${kib}:${index % 50}`);
    const read = (cpuMicros() - start) / ROUNDS;
    start = cpuMicros();
    let checksum = 0;
    for (let index = 0; index < ROUNDS; index++) checksum += ('y'.repeat(kib * 1024) + index).charCodeAt(kib * 1024 - 1);
    const made = (cpuMicros() - start) / ROUNDS;
    console.log(
      `${String(kib).padStart(4)} KiB: string made ${made.toFixed(0).padStart(5)} µs, store write ${write.toFixed(0).padStart(5)} µs, read ${read.toFixed(0).padStart(5)} µs (${checksum > 0 ? 'ok' : '?'})`,
    );
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
