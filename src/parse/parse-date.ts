// Feed dates come in RFC 822 (RSS), RFC 3339 (Atom, JSON Feed), W3C-DTF (Dublin Core) and worse.
// Each format is parsed explicitly so the result never depends on the server's time zone, which
// Date.parse would consult for strings without a zone.

const ISO_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T\s](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/i;
const RFC822_DATE =
  /^(?:[a-z]{2,9}\.?,?\s*)?(\d{1,2})[\s-]+([a-z]{3,9})\.?[\s-]+(\d{2,4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*([a-z]{1,5}|[+-]\d{4}|[+-]\d{2}:\d{2})?\s*(?:\([^)]*\))?$/i;

// 2020/1/10 14:33:00: what some CMSs (often Chinese ones) write in pubDate; no zone means UTC, as readers take it.
const SLASHED_DATE = /^(\d{4})\/(\d{1,2})\/(\d{1,2})(?:[T\s](\d{1,2}):(\d{2})(?::(\d{2}))?\s*(Z|[+-]\d{2}:?\d{2})?)?$/i;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// RFC 822 §5.1 zone names; unknown names are read as UTC rather than dropping the date.
const ZONE_OFFSETS_MINUTES: Record<string, number> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
  CET: 60,
  CEST: 120,
  BST: 60,
  IST: 330,
  JST: 540,
  AEST: 600,
  AEDT: 660,
};

// Earlier than the web or absurdly far ahead means a broken generator, not a real date.
const MIN_YEAR = 1970;
const MAX_YEAR = 2200;

function parseOffsetMinutes(zone: string | undefined): number {
  if (zone === undefined) return 0;
  const numeric = zone.match(/^([+-])(\d{2}):?(\d{2})?$/);
  if (numeric) {
    const minutes = Number(numeric[2]) * 60 + Number(numeric[3] ?? 0);
    return numeric[1] === '-' ? -minutes : minutes;
  }
  return ZONE_OFFSETS_MINUTES[zone.toUpperCase()] ?? 0;
}

function toIso(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  offset: number,
): string | undefined {
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (hour > 24 || minute > 59 || second > 60) return undefined;
  const time = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
  const date = new Date(time);
  // Date.UTC rolls 31 February over into March; a day that does not exist is not a date.
  if (Number.isNaN(time) || new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  return date.toISOString();
}

function parseIso(value: string): string | undefined {
  const m = value.match(ISO_DATE);
  if (!m) return undefined;
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return toIso(
    Number(m[1]),
    Number(m[2] ?? 1),
    Number(m[3] ?? 1),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    Math.min(ms, 999),
    parseOffsetMinutes(m[8]),
  );
}

function parseRfc822(value: string): string | undefined {
  const m = value.match(RFC822_DATE);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!.slice(0, 3).toLowerCase()) + 1;
  if (month === 0) return undefined;
  let year = Number(m[3]);
  // RFC 2822 §4.3: two-digit years below 50 are 20xx, the rest 19xx.
  if (m[3]!.length <= 2) year += year < 50 ? 2000 : 1900;
  return toIso(year, month, Number(m[1]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), 0, parseOffsetMinutes(m[7]));
}

function parseSlashed(value: string): string | undefined {
  const m = value.match(SLASHED_DATE);
  if (!m) return undefined;
  return toIso(
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    0,
    parseOffsetMinutes(m[7]),
  );
}

/** ISO 8601 (UTC) form of a feed date, or undefined when it cannot be read with confidence. */
export function parseDate(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim().replace(/\s+/g, ' ');
  if (text === '' || text.length > 64) return undefined;
  return parseIso(text) ?? parseRfc822(text) ?? parseSlashed(text);
}
