// What every layer asks of an entry: the date it sorts and renders by, and the canonical form of
// its link (how two links to one page are told apart). Pure; imports nothing but the model.
import type { CachedEntry } from './entries.js';

/** Query parameters that only track the click; two links differing in them name the same page. */
const TRACKING_PARAM = /^(utm_.*|fbclid|gclid)$/i;

const MIN_TIME = Date.parse('0001-01-01T00:00:00Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The date an entry sorts and renders by: updated, else published, else when we first saw it.
 * A date that does not parse counts as absent; the epoch is the last resort, never the clock.
 */
export function entryDate(entry: Pick<CachedEntry, 'updated' | 'published' | 'firstSeenAt'>): Date {
  return parseDate(entry.updated) ?? parseDate(entry.published) ?? parseDate(entry.firstSeenAt) ?? new Date(0);
}

/**
 * A source's cached entries in the order they are kept (refresh/update-cache.ts) and read back
 * (store/sources.ts): by their date as stored (updated, else published, else first seen), newest
 * first, then by id. Sorts in place.
 */
export function newestFirst(entries: CachedEntry[]): CachedEntry[] {
  const dateOf = (entry: CachedEntry) => entry.updated ?? entry.published ?? entry.firstSeenAt;
  return entries.sort((a, b) => compareText(dateOf(b), dateOf(a)) || compareText(a.id, b.id));
}

/** Strings by UTF-16 code unit, for sorts: ISO dates compare as their times. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An ISO 8601 date a feed can carry, or undefined: RFC 3339 and RFC 822 only know four-digit years. */
export function parseDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time) || time < MIN_TIME || time > MAX_TIME) return undefined;
  return new Date(time);
}

/**
 * The form two links to the same page share: lowercase scheme and host, no default port, no
 * fragment, no tracking parameters, the other parameters sorted, no trailing slash.
 * Undefined when the link is not an absolute URL.
 */
export function canonicalLink(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  // WHATWG URL parsing already lowercases scheme and host and drops the scheme's default port.
  const params = new URLSearchParams(parsed.search);
  for (const name of [...params.keys()]) if (TRACKING_PARAM.test(name)) params.delete(name);
  params.sort();
  const query = params.toString();
  const path = parsed.pathname.replace(/\/+$/, '');
  if (parsed.host === '') return `${parsed.protocol}${path}${query ? `?${query}` : ''}`;
  return `${parsed.protocol}//${parsed.host}${path}${query ? `?${query}` : ''}`;
}
