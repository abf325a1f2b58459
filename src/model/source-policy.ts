// How a source is scheduled and what its status says, in one place and pure (compare miniflux's
// model/feed.go, which schedules and resets a feed the same way): the interval in force, backoff
// after a failure and the Retry-After clamp, stale versus failing and the stale threshold, what is
// due, and the bookkeeping after a good fetch or a user's retry. The callers (refresh/, services/,
// publish/) read and write records; the rules are here, table-tested in test/model/source-policy.test.ts.
// The due index (store/due-index.ts) repeats `dueAtOf`, `isActive` and `failingSince` in SQL and Lua,
// because the store evaluates them where the records are: a change here is a change there.
import type { SourceRecord, SourceStatus } from './records.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** What an upstream may ask for (max-age, <ttl>) counts up to a day: a year-long max-age is no schedule. */
const MAX_UPSTREAM_MINUTES = 1440;
/** Backoff doubles per failure; past this many doublings it has long hit the cap anyway. */
const MAX_DOUBLINGS = 20;
/** Up to 5% later, so sources created together drift apart instead of hitting upstreams at once. */
const JITTER = 0.05;

/** The operator's settings the policy goes by (config.refresh). */
export interface SourcePolicySettings {
  /** The floor of every source's interval, minutes. */
  minMinutes: number;
  /** The cap of backoff and of a Retry-After wait, minutes. */
  maxBackoffMinutes: number;
  /** A failing source's last good items turn stale after this many hours. */
  staleAfterHours: number;
}

/** A random number in [0, 1): the jitter. Tests pass a fixed one. */
export type Random = () => number;

/** `ms` stretched by up to 5%. */
export function withJitter(ms: number, random: Random = Math.random): number {
  return Math.round(ms * (1 + random() * JITTER));
}

/** Disabled and unauthorized sources wait for the user: nothing schedules them. */
export function isActive(source: Pick<SourceRecord, 'status'>): boolean {
  return source.status !== 'disabled' && source.status !== 'unauthorized';
}

/** The interval in force, minutes: the user's, raised to the operator's floor and to what the upstream asks (up to a day). */
export function effectiveIntervalMinutes(
  settings: Pick<SourcePolicySettings, 'minMinutes'>,
  source: Pick<SourceRecord, 'refreshMinutes' | 'upstreamMinMinutes'>,
): number {
  const upstream = Math.min(source.upstreamMinMinutes ?? 0, MAX_UPSTREAM_MINUTES);
  return Math.max(source.refreshMinutes, settings.minMinutes, upstream);
}

/** When a source is next due after `from` (ISO): the interval in force plus jitter. */
export function nextFetchAfter(
  settings: Pick<SourcePolicySettings, 'minMinutes'>,
  source: Pick<SourceRecord, 'refreshMinutes' | 'upstreamMinMinutes'>,
  from: Date,
  random: Random = Math.random,
): string {
  return new Date(from.getTime() + withJitter(effectiveIntervalMinutes(settings, source) * MINUTE_MS, random)).toISOString();
}

/** The minimum interval an upstream's document asks for (Cache-Control max-age, RSS <ttl>, sy:updatePeriod), minutes. */
export function upstreamMinMinutesOf(maxAgeSeconds: number | undefined, ttlMinutes: number | undefined): number | undefined {
  const maxAgeMinutes = maxAgeSeconds ? Math.ceil(maxAgeSeconds / 60) : 0;
  return Math.max(maxAgeMinutes, ttlMinutes ?? 0) || undefined;
}

/** When a source may next be fetched (ms): its schedule, or a pending Retry-After if later. */
export function dueAtOf(source: Pick<SourceRecord, 'nextFetchAt' | 'retryAfterUntil'>): number {
  const next = Date.parse(source.nextFetchAt);
  return source.retryAfterUntil ? Math.max(next, Date.parse(source.retryAfterUntil)) : next;
}

/** Whether an upstream's Retry-After still forbids fetching the source (even a user's forced refresh). */
export function isDeferred(source: Pick<SourceRecord, 'retryAfterUntil'>, now: Date): boolean {
  return source.retryAfterUntil !== undefined && Date.parse(source.retryAfterUntil) > now.getTime();
}

/** Sources whose time has come, most overdue first. Disabled and unauthorized ones wait for the user. */
export function dueSources<T extends Pick<SourceRecord, 'status' | 'nextFetchAt'>>(sources: T[], now: Date): T[] {
  const nowMs = now.getTime();
  return sources
    .filter((source) => isActive(source) && Date.parse(source.nextFetchAt) <= nowMs)
    .sort((a, b) => Date.parse(a.nextFetchAt) - Date.parse(b.nextFetchAt));
}

/** Since when a source has had no good refresh (ISO); undefined while it is ok or new. */
export function failingSince(source: Pick<SourceRecord, 'status' | 'lastSuccessAt' | 'createdAt'>): string | undefined {
  return source.status === 'ok' || source.status === 'new' ? undefined : (source.lastSuccessAt ?? source.createdAt);
}

/**
 * When a failing source's last good items turn stale (ms): the feeds that hold it may need the stale
 * marker from then on, although nothing about the source changes at that moment (the scheduler
 * rebuilds them when the time passes; a disabled or unauthorized source is never fetched again).
 */
export function staleAtOf(
  source: Pick<SourceRecord, 'status' | 'lastSuccessAt' | 'createdAt'>,
  staleAfterHours: number,
): number | undefined {
  const since = failingSince(source);
  return since === undefined ? undefined : Date.parse(since) + staleAfterHours * HOUR_MS;
}

/**
 * When a feed of these sources is stale — every source failing, the last of them for longer than the
 * threshold — and since when they fail (the latest start); undefined while any source is ok or new.
 */
export function feedStaleness(
  sources: Array<Pick<SourceRecord, 'status' | 'lastSuccessAt' | 'createdAt'>>,
  staleAfterHours: number,
): { since: string; staleAt: number } | undefined {
  const sinces = sources.map(failingSince);
  if (sources.length === 0 || sinces.includes(undefined)) return undefined;
  const since = (sinces as string[]).reduce((latest, date) => (date > latest ? date : latest));
  return { since, staleAt: Date.parse(since) + staleAfterHours * HOUR_MS };
}

/** A failed fetch as the policy needs it: the error's code, the upstream's status and Retry-After. */
export interface FetchFailure {
  code: string;
  upstreamStatus?: number;
  retryAfterMs?: number;
  /** The source's connection no longer exists: nothing can sign for it. */
  connectionRemoved?: boolean;
}

/** What a failure changes on the source, besides the error's words. */
export interface FailureOutcome {
  status: SourceStatus;
  errorCount: number;
  /** ISO; set while a Retry-After is pending, otherwise cleared. */
  retryAfterUntil: string | undefined;
  nextFetchAt: string;
}

/**
 * After a failed fetch: 410 disables the source, a removed connection too; 401/403 mark it
 * unauthorized; otherwise it is stale while its last good items are fresh, failing after. The next
 * fetch backs off ×2 per failure up to the cap and never sooner than the interval; a 429/503 with
 * Retry-After waits as long as asked, up to the cap (RFC 9110 §10.2.3, RFC 6585 §4), and then no
 * sooner than the interval (`Retry-After: 0` is not a poll per tick).
 */
export function afterFailure(
  settings: SourcePolicySettings,
  source: Pick<SourceRecord, 'errorCount' | 'lastSuccessAt' | 'refreshMinutes' | 'upstreamMinMinutes'>,
  failure: FetchFailure,
  now: Date,
  random: Random = Math.random,
): FailureOutcome {
  const errorCount = source.errorCount + 1;
  const maxBackoffMs = settings.maxBackoffMinutes * MINUTE_MS;
  const intervalMs = effectiveIntervalMinutes(settings, source) * MINUTE_MS;
  const fresh = source.lastSuccessAt !== undefined && now.getTime() - Date.parse(source.lastSuccessAt) < settings.staleAfterHours * HOUR_MS;
  let status: SourceStatus = fresh ? 'stale' : 'failing';
  let delayMs = Math.max(intervalMs, Math.min(intervalMs * 2 ** Math.min(errorCount, MAX_DOUBLINGS), maxBackoffMs));
  let retryAfterUntil: string | undefined;
  const { upstreamStatus } = failure;
  if (upstreamStatus === 410 || failure.connectionRemoved) {
    status = 'disabled';
  } else if (upstreamStatus === 401 || upstreamStatus === 403) {
    status = 'unauthorized';
  } else if ((upstreamStatus === 429 || upstreamStatus === 503) && failure.retryAfterMs !== undefined) {
    const waitMs = Math.min(Math.max(failure.retryAfterMs, 0), maxBackoffMs);
    retryAfterUntil = new Date(now.getTime() + waitMs).toISOString();
    delayMs = Math.max(waitMs, Math.min(intervalMs, maxBackoffMs));
  }
  // The jitter spreads a host's failing sources apart, but never past the cap.
  const nextFetchAt = new Date(now.getTime() + Math.min(withJitter(delayMs, random), Math.max(delayMs, maxBackoffMs))).toISOString();
  return { status, errorCount, retryAfterUntil, nextFetchAt };
}

/** After a good fetch (200 or 304): ok, the error and any Retry-After forgotten, fetched and succeeded now. */
export function afterGoodFetch(
  fetchedAt: Date,
): Pick<
  SourceRecord,
  'status' | 'errorCount' | 'lastError' | 'lastErrorCode' | 'retryAfterUntil' | 'lastFetchedAt' | 'lastSuccessAt' | 'updatedAt'
> {
  const at = fetchedAt.toISOString();
  return {
    status: 'ok',
    errorCount: 0,
    lastError: undefined,
    lastErrorCode: undefined,
    retryAfterUntil: undefined,
    lastFetchedAt: at,
    lastSuccessAt: at,
    updatedAt: at,
  };
}

/**
 * A user's word that the source should work again (its URL edited, an unauthorized or disabled
 * source edited, its connection linked again): new, no error, no pending Retry-After, due now.
 */
export function resetForRetry(
  now: string,
): Pick<SourceRecord, 'status' | 'errorCount' | 'lastError' | 'lastErrorCode' | 'retryAfterUntil' | 'nextFetchAt' | 'updatedAt'> {
  return {
    status: 'new',
    errorCount: 0,
    lastError: undefined,
    lastErrorCode: undefined,
    retryAfterUntil: undefined,
    nextFetchAt: now,
    updatedAt: now,
  };
}
