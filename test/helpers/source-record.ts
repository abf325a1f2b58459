// A source record as the store keeps it, for tests that write records through the registry directly
// (no creation fetch): defaults for every required field, `extra` for what a test is about.
import type { SourceRecord } from '../../src/model.js';

const iso = (ms: number) => new Date(ms).toISOString();
const CREATED = Date.parse('2026-03-02T07:00:00Z');

export function sourceRecord(id: string, extra: Partial<SourceRecord> = {}): SourceRecord {
  return {
    id,
    userId: 'u1',
    title: id,
    urlSealed: 'sealed',
    urlMasked: `https://example.test/${id}`,
    host: 'example.test',
    refreshMinutes: 30,
    status: 'ok',
    errorCount: 0,
    nextFetchAt: iso(CREATED + 3_600_000),
    entryCount: 0,
    createdAt: iso(CREATED),
    updatedAt: iso(CREATED),
    ...extra,
  };
}
