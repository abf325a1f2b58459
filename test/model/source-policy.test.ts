// The source policy as tables: each row a source and what happens to it, with the jitter fixed, so a
// rule that moves shows here before it shows in a refresh.
import { describe, expect, it } from 'vitest';
import {
  afterFailure,
  afterGoodFetch,
  dueAtOf,
  dueSources,
  effectiveIntervalMinutes,
  failingSince,
  feedStaleness,
  isActive,
  isDeferred,
  nextFetchAfter,
  resetForRetry,
  staleAtOf,
  upstreamMinMinutesOf,
  type FetchFailure,
} from '../../src/model/source-policy.js';
import type { SourceRecord, SourceStatus } from '../../src/model.js';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 3_600_000;
const settings = { minMinutes: 5, maxBackoffMinutes: 1440, staleAfterHours: 24 };
const noJitter = () => 0;
const fullJitter = () => 0.999_999;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();

function source(fields: Partial<SourceRecord> = {}): SourceRecord {
  return {
    id: 's1',
    userId: 'u1',
    title: 'S',
    urlSealed: 'x',
    urlMasked: 'https://example.com/feed',
    host: 'example.com',
    refreshMinutes: 30,
    status: 'ok',
    errorCount: 0,
    nextFetchAt: at(0),
    entryCount: 0,
    createdAt: at(-30 * 24 * HOUR),
    updatedAt: at(0),
    ...fields,
  };
}

describe('interval', () => {
  it.each([
    { refreshMinutes: 30, upstreamMinMinutes: undefined, interval: 30, why: "the user's" },
    { refreshMinutes: 1, upstreamMinMinutes: undefined, interval: 5, why: "raised to the operator's floor" },
    { refreshMinutes: 30, upstreamMinMinutes: 120, interval: 120, why: 'raised to what the upstream asks' },
    { refreshMinutes: 30, upstreamMinMinutes: 100_000, interval: 1440, why: 'an upstream asks for a day at most' },
    { refreshMinutes: 2000, upstreamMinMinutes: 60, interval: 2000, why: "the user's longer one stands" },
  ])('$why: $interval minutes', ({ refreshMinutes, upstreamMinMinutes, interval }) => {
    expect(effectiveIntervalMinutes(settings, { refreshMinutes, upstreamMinMinutes })).toBe(interval);
    expect(nextFetchAfter(settings, { refreshMinutes, upstreamMinMinutes }, NOW, noJitter)).toBe(at(interval * MIN));
    // The jitter adds up to 5%, never less than nothing.
    const latest = Date.parse(nextFetchAfter(settings, { refreshMinutes, upstreamMinMinutes }, NOW, fullJitter));
    expect(latest).toBeGreaterThan(NOW.getTime() + interval * MIN);
    expect(latest).toBeLessThanOrEqual(NOW.getTime() + interval * MIN * 1.05);
  });

  it.each([
    { maxAgeSeconds: undefined, ttlMinutes: undefined, minutes: undefined },
    { maxAgeSeconds: 0, ttlMinutes: undefined, minutes: undefined },
    { maxAgeSeconds: 61, ttlMinutes: undefined, minutes: 2 },
    { maxAgeSeconds: 3600, ttlMinutes: 90, minutes: 90 },
    { maxAgeSeconds: 7200, ttlMinutes: 90, minutes: 120 },
  ])('the upstream asks for max-age $maxAgeSeconds s, ttl $ttlMinutes min: $minutes min', ({ maxAgeSeconds, ttlMinutes, minutes }) => {
    expect(upstreamMinMinutesOf(maxAgeSeconds, ttlMinutes)).toBe(minutes);
  });
});

describe('after a failure', () => {
  const rows: Array<{
    why: string;
    before: Partial<SourceRecord>;
    failure: FetchFailure;
    status: SourceStatus;
    delayMs: number;
    retryAfterUntil?: string;
  }> = [
    {
      why: 'a first failure with fresh good items is stale, backed off ×2',
      before: { lastSuccessAt: at(-HOUR) },
      failure: { code: 'FP_UPSTREAM_ERROR', upstreamStatus: 500 },
      status: 'stale',
      delayMs: 60 * MIN,
    },
    {
      why: 'good items older than the threshold make it failing',
      before: { lastSuccessAt: at(-25 * HOUR), errorCount: 3 },
      failure: { code: 'FP_UPSTREAM_ERROR', upstreamStatus: 500 },
      status: 'failing',
      delayMs: 30 * MIN * 16,
    },
    {
      why: 'never a good fetch: failing',
      before: { lastSuccessAt: undefined },
      failure: { code: 'FP_TIMEOUT' },
      status: 'failing',
      delayMs: 60 * MIN,
    },
    {
      why: 'backoff stops at the cap',
      before: { lastSuccessAt: at(-HOUR), errorCount: 30 },
      failure: { code: 'FP_TIMEOUT' },
      status: 'stale',
      delayMs: 1440 * MIN,
    },
    {
      why: '410 disables it',
      before: { lastSuccessAt: at(-HOUR) },
      failure: { code: 'FP_UPSTREAM_GONE', upstreamStatus: 410 },
      status: 'disabled',
      delayMs: 60 * MIN,
    },
    {
      why: 'a removed connection disables it',
      before: {},
      failure: { code: 'FP_NOT_FOUND', connectionRemoved: true },
      status: 'disabled',
      delayMs: 60 * MIN,
    },
    {
      why: '401 makes it unauthorized',
      before: {},
      failure: { code: 'FP_UPSTREAM_UNAUTHORIZED', upstreamStatus: 401 },
      status: 'unauthorized',
      delayMs: 60 * MIN,
    },
    {
      why: '403 makes it unauthorized',
      before: {},
      failure: { code: 'FP_UPSTREAM_UNAUTHORIZED', upstreamStatus: 403 },
      status: 'unauthorized',
      delayMs: 60 * MIN,
    },
    {
      why: '429 with Retry-After waits as asked',
      before: { lastSuccessAt: at(-HOUR) },
      failure: { code: 'FP_RATE_LIMITED', upstreamStatus: 429, retryAfterMs: 2 * HOUR },
      status: 'stale',
      delayMs: 2 * HOUR,
      retryAfterUntil: at(2 * HOUR),
    },
    {
      why: 'Retry-After: 0 is no poll per tick: the interval still holds',
      before: { lastSuccessAt: at(-HOUR) },
      failure: { code: 'FP_RATE_LIMITED', upstreamStatus: 503, retryAfterMs: 0 },
      status: 'stale',
      delayMs: 30 * MIN,
      retryAfterUntil: at(0),
    },
    {
      why: 'a Retry-After past the cap is clamped to it',
      before: {},
      failure: { code: 'FP_RATE_LIMITED', upstreamStatus: 429, retryAfterMs: 10 * 24 * HOUR },
      status: 'failing',
      delayMs: 1440 * MIN,
      retryAfterUntil: at(1440 * MIN),
    },
    {
      why: 'a negative Retry-After counts as none',
      before: {},
      failure: { code: 'FP_RATE_LIMITED', upstreamStatus: 429, retryAfterMs: -5000 },
      status: 'failing',
      delayMs: 30 * MIN,
      retryAfterUntil: at(0),
    },
    {
      why: '429 without Retry-After backs off as any failure',
      before: {},
      failure: { code: 'FP_RATE_LIMITED', upstreamStatus: 429 },
      status: 'failing',
      delayMs: 60 * MIN,
    },
    {
      why: 'a Retry-After left from before is cleared by a failure without one',
      before: { retryAfterUntil: at(HOUR) },
      failure: { code: 'FP_TIMEOUT' },
      status: 'failing',
      delayMs: 60 * MIN,
    },
  ];
  it.each(rows)('$why', ({ before, failure, status, delayMs, retryAfterUntil }) => {
    const record = source(before);
    const outcome = afterFailure(settings, record, failure, NOW, noJitter);
    expect(outcome).toEqual({ status, errorCount: record.errorCount + 1, retryAfterUntil, nextFetchAt: at(delayMs) });
  });

  it('the jitter spreads failing sources apart but never past the cap', () => {
    const capped = afterFailure(settings, source({ errorCount: 30 }), { code: 'FP_TIMEOUT' }, NOW, fullJitter);
    expect(capped.nextFetchAt).toBe(at(1440 * MIN));
    const spread = afterFailure(settings, source(), { code: 'FP_TIMEOUT' }, NOW, fullJitter);
    expect(Date.parse(spread.nextFetchAt)).toBeGreaterThan(Date.parse(at(60 * MIN)));
  });
});

describe('after a good fetch, and a retry', () => {
  it('a good fetch clears the error, the count and any Retry-After, and dates the success', () => {
    const failing = source({ status: 'failing', errorCount: 4, lastError: 'boom', lastErrorCode: 'FP_TIMEOUT', retryAfterUntil: at(HOUR) });
    expect({ ...failing, ...afterGoodFetch(NOW) }).toMatchObject({
      status: 'ok',
      errorCount: 0,
      lastError: undefined,
      lastErrorCode: undefined,
      retryAfterUntil: undefined,
      lastFetchedAt: NOW.toISOString(),
      lastSuccessAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
  });

  it.each<SourceStatus>(['unauthorized', 'disabled', 'failing', 'stale'])(
    'a retry of a %s source makes it new and due now, with no Retry-After left',
    (status) => {
      const before = source({
        status,
        errorCount: 3,
        lastError: 'no',
        lastErrorCode: 'FP_RATE_LIMITED',
        retryAfterUntil: at(HOUR),
        nextFetchAt: at(HOUR),
      });
      const after = { ...before, ...resetForRetry(NOW.toISOString()) };
      expect(after).toMatchObject({ status: 'new', errorCount: 0, nextFetchAt: NOW.toISOString(), updatedAt: NOW.toISOString() });
      expect([after.lastError, after.lastErrorCode, after.retryAfterUntil]).toEqual([undefined, undefined, undefined]);
      expect(isDeferred(after, NOW)).toBe(false);
      expect(dueAtOf(after)).toBe(NOW.getTime());
    },
  );
});

describe('what is due', () => {
  it.each([
    { nextFetchAt: at(-MIN), retryAfterUntil: undefined, dueAt: at(-MIN), deferred: false },
    { nextFetchAt: at(-MIN), retryAfterUntil: at(HOUR), dueAt: at(HOUR), deferred: true },
    { nextFetchAt: at(2 * HOUR), retryAfterUntil: at(HOUR), dueAt: at(2 * HOUR), deferred: true },
    { nextFetchAt: at(-MIN), retryAfterUntil: at(-MIN), dueAt: at(-MIN), deferred: false },
  ])('next $nextFetchAt, Retry-After until $retryAfterUntil: due at $dueAt', ({ nextFetchAt, retryAfterUntil, dueAt, deferred }) => {
    const record = source({ nextFetchAt, retryAfterUntil });
    expect(dueAtOf(record)).toBe(Date.parse(dueAt));
    expect(isDeferred(record, NOW)).toBe(deferred);
  });

  it.each<[SourceStatus, boolean]>([
    ['new', true],
    ['ok', true],
    ['stale', true],
    ['failing', true],
    ['disabled', false],
    ['unauthorized', false],
  ])('%s is scheduled: %s', (status, active) => {
    expect(isActive({ status })).toBe(active);
    expect(dueSources([source({ status, nextFetchAt: at(-MIN) })], NOW)).toHaveLength(active ? 1 : 0);
  });

  it('lists due sources most overdue first, and none that is not due yet', () => {
    const sources = [
      source({ id: 'a', nextFetchAt: at(-MIN) }),
      source({ id: 'b', nextFetchAt: at(MIN) }),
      source({ id: 'c', nextFetchAt: at(-HOUR) }),
      source({ id: 'd', nextFetchAt: at(0) }),
    ];
    expect(dueSources(sources, NOW).map((due) => due.id)).toEqual(['c', 'a', 'd']);
  });
});

describe('stale versus failing', () => {
  it.each([
    { status: 'ok' as const, lastSuccessAt: at(-HOUR), since: undefined },
    { status: 'new' as const, lastSuccessAt: undefined, since: undefined },
    { status: 'stale' as const, lastSuccessAt: at(-HOUR), since: at(-HOUR) },
    { status: 'failing' as const, lastSuccessAt: at(-48 * HOUR), since: at(-48 * HOUR) },
    { status: 'unauthorized' as const, lastSuccessAt: undefined, since: at(-30 * 24 * HOUR) },
  ])('$status since $lastSuccessAt: failing since $since', ({ status, lastSuccessAt, since }) => {
    const record = source({ status, lastSuccessAt });
    expect(failingSince(record)).toBe(since);
    expect(staleAtOf(record, 24)).toBe(since === undefined ? undefined : Date.parse(since) + 24 * HOUR);
  });

  it('a feed is stale only when every source fails, from the latest start plus the threshold', () => {
    const failing = source({ status: 'failing', lastSuccessAt: at(-48 * HOUR) });
    const later = source({ status: 'stale', lastSuccessAt: at(-2 * HOUR) });
    expect(feedStaleness([], 24)).toBeUndefined();
    expect(feedStaleness([failing, source({ status: 'ok' })], 24)).toBeUndefined();
    expect(feedStaleness([failing, later], 24)).toEqual({ since: at(-2 * HOUR), staleAt: NOW.getTime() + 22 * HOUR });
  });
});
