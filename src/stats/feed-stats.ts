// Per-token usage of the public feed URLs: requests, 304s, last seen, and the subscriber counts
// hosted readers report. A reader's GET only bumps counters in memory; they reach the store in
// one atomic increment per feed every few seconds, so counting costs the hot path nothing and
// instances sharing Redis add up instead of overwriting each other. No IP address is kept.
import type { Logger } from '../logger.js';
import type { FeedStatsStorage } from '../store/feed-stats.js';
import { parseReaderAgent } from './reader-agent.js';

export interface FeedHit {
  feedId: string;
  tokenId: string;
  notModified: boolean;
  userAgent: string | undefined;
  at: Date;
}

export interface ReaderStats {
  reader: string;
  subscribers: number;
  lastSeenAt: string;
}

export interface TokenStats {
  tokenId: string;
  requests: number;
  notModified: number;
  lastSeenAt: string | null;
  /** The sum of what readers reported in the last week. */
  subscribers: number;
  readers: ReaderStats[];
}

export interface FeedStats {
  tokens: Map<string, TokenStats>;
  days: Array<{ date: string; requests: number; notModified: number }>;
}

export interface StatsRecorder {
  record(hit: FeedHit): void;
  /** Writes what is counted so far (also on a timer, and on close). */
  flush(): Promise<void>;
  read(feedId: string, now: Date): Promise<FeedStats>;
  forget(feedId: string): Promise<void>;
  close(): Promise<void>;
}

const FLUSH_EVERY_MS = 5_000;
const DAYS_SHOWN = 30;
/** A reader that stopped reporting a week ago no longer counts its subscribers, nor is it listed. */
const REPORT_COUNTS_FOR_MS = 7 * 86_400_000;
/** Reports older than this are deleted when the stats are read. */
const REPORT_KEPT_FOR_MS = 30 * 86_400_000;
/**
 * Distinct readers a process takes per token per day. Anyone holding a public URL can make up
 * User-Agents; this bounds what they can add to the store (real feeds have a handful of readers).
 */
const MAX_NEW_READERS_PER_DAY = 64;
/** The readers listed per token, most subscribers first; the count is their sum. */
const READERS_SHOWN = 20;
/** Feeds held in memory between flushes; past it a flush is started early. */
const MAX_PENDING_FEEDS = 10_000;

const field = {
  requests: (tokenId: string) => `token|${tokenId}|requests`,
  notModified: (tokenId: string) => `token|${tokenId}|notModified`,
  lastSeen: (tokenId: string) => `token|${tokenId}|lastSeenAt`,
  dayRequests: (date: string) => `day|${date}|requests`,
  dayNotModified: (date: string) => `day|${date}|notModified`,
  reader: (tokenId: string, reader: string, readerFeedId = '') => `reader|${tokenId}|${reader.replaceAll('|', '')}|${readerFeedId}`,
};

interface Counts {
  requests: number;
  notModified: number;
}

/**
 * What one feed's polls added since the last flush, as numbers: the store's field names and ISO
 * times are made once per flush, not once per poll.
 */
interface Pending {
  tokens: Map<string, Counts & { lastSeenMs: number }>;
  days: Map<string, Counts>;
  /** Reader reports (field → JSON), rare: made when the poll carries one. */
  readers: Record<string, string>;
  /** The latest hit counted: the clock the once-a-day pruning goes by. */
  lastAtMs: number;
}

/** Per-day counters older than this are deleted: the API shows the last DAYS_SHOWN days. */
const DAY_FIELDS_KEPT_FOR_MS = 90 * 86_400_000;

export function createStatsRecorder(storage: FeedStatsStorage, logger: Logger): StatsRecorder {
  let pending = new Map<string, Pending>();
  /** Flushes run one after another; each writes what was counted when it started. */
  let flushed: Promise<void> = Promise.resolve();
  let queued = false;
  /** Reader fields taken today, per feed and token (the cap above); reset at midnight UTC. */
  let readersToday = { date: '', seen: new Map<string, Set<string>>() };
  /** Feeds pruned today (see prune); reset at midnight UTC. */
  let prunedToday = { date: '', feeds: new Set<string>() };

  /**
   * Deletes reader reports not seen for a month and day counters past their keeping: done when the
   * owner reads the stats, and once a day per feed on flush, so a feed nobody looks at stays small.
   */
  async function prune(feedId: string, now: Date, fields?: Record<string, string>): Promise<Record<string, string>> {
    const all = fields ?? (await storage.read(feedId));
    const expired = Object.entries(all)
      .filter(([name, value]) => {
        if (name.startsWith('reader|'))
          return now.getTime() - Date.parse((JSON.parse(value) as ReaderStats).lastSeenAt) > REPORT_KEPT_FOR_MS;
        if (name.startsWith('day|')) return now.getTime() - Date.parse(name.split('|')[1]!) > DAY_FIELDS_KEPT_FOR_MS;
        return false;
      })
      .map(([name]) => name);
    if (expired.length > 0) await storage.delete(feedId, expired);
    for (const name of expired) delete all[name];
    return all;
  }

  async function writeOut(): Promise<void> {
    const batch = pending;
    pending = new Map();
    for (const [feedId, { tokens, days, readers, lastAtMs }] of batch) {
      const counts: Record<string, number> = {};
      const values: Record<string, string> = { ...readers };
      for (const [tokenId, token] of tokens) {
        counts[field.requests(tokenId)] = token.requests;
        if (token.notModified > 0) counts[field.notModified(tokenId)] = token.notModified;
        values[field.lastSeen(tokenId)] = new Date(token.lastSeenMs).toISOString();
      }
      for (const [date, day] of days) {
        counts[field.dayRequests(date)] = day.requests;
        if (day.notModified > 0) counts[field.dayNotModified(date)] = day.notModified;
      }
      const lastAt = new Date(lastAtMs).toISOString();
      try {
        await storage.increment(feedId, counts);
        await storage.set(feedId, values);
        const date = lastAt.slice(0, 10);
        if (prunedToday.date !== date) prunedToday = { date, feeds: new Set() };
        if (!prunedToday.feeds.has(feedId)) {
          prunedToday.feeds.add(feedId);
          await prune(feedId, new Date(lastAt));
        }
      } catch (error) {
        // Statistics are not worth an error page or a retry storm: these counts are lost.
        logger.warn({ feedId, err: (error as Error).message }, 'feed statistics not saved');
      }
    }
  }
  function flush(): Promise<void> {
    flushed = flushed.then(writeOut);
    return flushed;
  }
  /** The timer's flush: one in the queue at a time, however slow the store. */
  function flushSoon(): void {
    if (queued) return;
    queued = true;
    void flush().finally(() => (queued = false));
  }
  function takesReader(feedId: string, tokenId: string, field: string, date: string): boolean {
    if (readersToday.date !== date) readersToday = { date, seen: new Map() };
    const key = `${feedId}|${tokenId}`;
    let seen = readersToday.seen.get(key);
    if (!seen) readersToday.seen.set(key, (seen = new Set()));
    if (seen.has(field)) return true;
    if (seen.size >= MAX_NEW_READERS_PER_DAY) return false;
    seen.add(field);
    return true;
  }
  /** The UTC day of the last hit, kept: polls of one day share its string. */
  let day = { start: 0, end: 0, date: '' };
  function dateOf(ms: number): string {
    if (ms < day.start || ms >= day.end) {
      const start = ms - (((ms % 86_400_000) + 86_400_000) % 86_400_000);
      day = { start, end: start + 86_400_000, date: new Date(start).toISOString().slice(0, 10) };
    }
    return day.date;
  }
  const timer = setInterval(flushSoon, FLUSH_EVERY_MS);
  timer.unref();

  return {
    record({ feedId, tokenId, notModified, userAgent, at }) {
      // This runs on every poll of a public feed: numbers only, no string made unless a reader reports.
      const ms = at.getTime();
      let entry = pending.get(feedId);
      if (!entry) {
        if (pending.size >= MAX_PENDING_FEEDS) flushSoon();
        pending.set(feedId, (entry = { tokens: new Map(), days: new Map(), readers: {}, lastAtMs: ms }));
      }
      if (ms > entry.lastAtMs) entry.lastAtMs = ms;
      let token = entry.tokens.get(tokenId);
      if (!token) entry.tokens.set(tokenId, (token = { requests: 0, notModified: 0, lastSeenMs: ms }));
      token.requests += 1;
      token.lastSeenMs = ms;
      const date = dateOf(ms);
      let counts = entry.days.get(date);
      if (!counts) entry.days.set(date, (counts = { requests: 0, notModified: 0 }));
      counts.requests += 1;
      if (notModified) {
        token.notModified += 1;
        counts.notModified += 1;
      }
      const report = parseReaderAgent(userAgent);
      const readerField = report && field.reader(tokenId, report.reader, report.readerFeedId);
      if (report && readerField && takesReader(feedId, tokenId, readerField, date)) {
        entry.readers[readerField] = JSON.stringify({
          reader: report.reader,
          subscribers: report.subscribers,
          lastSeenAt: at.toISOString(),
        });
      }
    },
    flush,
    async read(feedId, now) {
      return statsOf(await prune(feedId, now), now);
    },
    async forget(feedId) {
      pending.delete(feedId);
      // A flush under way may still write this feed's counts: delete after it.
      await flushed;
      await storage.delete(feedId);
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

function statsOf(fields: Record<string, string>, now: Date): FeedStats {
  const tokens = new Map<string, TokenStats>();
  const tokenOf = (tokenId: string) => {
    let stats = tokens.get(tokenId);
    if (!stats) tokens.set(tokenId, (stats = { tokenId, requests: 0, notModified: 0, lastSeenAt: null, subscribers: 0, readers: [] }));
    return stats;
  };
  const byDay = new Map<string, { requests: number; notModified: number }>();
  for (const [name, value] of Object.entries(fields)) {
    const [kind, id, what] = name.split('|') as [string, string, string];
    if (kind === 'token') {
      const stats = tokenOf(id);
      if (what === 'requests') stats.requests = Number(value);
      else if (what === 'notModified') stats.notModified = Number(value);
      else if (what === 'lastSeenAt') stats.lastSeenAt = value;
    } else if (kind === 'day') {
      const day = byDay.get(id) ?? { requests: 0, notModified: 0 };
      day[what === 'requests' ? 'requests' : 'notModified'] = Number(value);
      byDay.set(id, day);
    } else if (kind === 'reader') {
      tokenOf(id).readers.push(JSON.parse(value) as ReaderStats);
    }
  }
  for (const stats of tokens.values()) {
    stats.readers = stats.readers
      .filter((report) => now.getTime() - Date.parse(report.lastSeenAt) < REPORT_COUNTS_FOR_MS)
      .sort((a, b) => b.subscribers - a.subscribers || (a.reader < b.reader ? -1 : 1))
      .slice(0, READERS_SHOWN);
    stats.subscribers = stats.readers.reduce((sum, report) => sum + report.subscribers, 0);
  }
  const days = [];
  for (let back = DAYS_SHOWN - 1; back >= 0; back -= 1) {
    const date = new Date(now.getTime() - back * 86_400_000).toISOString().slice(0, 10);
    days.push({ date, ...(byDay.get(date) ?? { requests: 0, notModified: 0 }) });
  }
  return { tokens, days };
}
