import { describe, expect, it } from 'vitest';
import { parseMaxAge, parseRetryAfter } from '../../src/fetch/index.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('1994-11-06T08:49:00Z');
  // RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds; HTTP-date per §5.6.7 includes the
  // obsolete RFC 850 and asctime forms, which recipients must accept.
  const cases: Array<[string | undefined, number | undefined, string]> = [
    ['120', 120_000, 'delay-seconds'],
    ['0', 0, 'zero delay'],
    [' 30 ', 30_000, 'surrounding whitespace'],
    ['Sun, 06 Nov 1994 08:49:37 GMT', 37_000, 'IMF-fixdate'],
    ['Sunday, 06-Nov-94 08:49:37 GMT', 37_000, 'RFC 850 date'],
    ['Sun Nov  6 08:49:37 1994', 37_000, 'asctime date, read as UTC'],
    ['Sun, 06 Nov 1994 08:48:00 GMT', 0, 'date in the past means now'],
    ['-5', undefined, 'negative is not delay-seconds'],
    ['1.5', undefined, 'fraction is not delay-seconds'],
    ['soon', undefined, 'garbage'],
    ['2024-01-01T00:00:00Z', undefined, 'ISO 8601 is not an HTTP-date'],
    ['', undefined, 'empty'],
    [undefined, undefined, 'absent'],
  ];
  it.each(cases)('%j → %s (%s)', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe('parseMaxAge', () => {
  // RFC 9111 §5.2.2.1: max-age=delta-seconds; §5.2: directive names are case-insensitive, and a
  // quoted-string form should be accepted.
  const cases: Array<[string | undefined, number | undefined]> = [
    ['max-age=600', 600],
    ['public, max-age=3600, must-revalidate', 3600],
    ['MAX-AGE=60', 60],
    ['max-age="120"', 120],
    ['s-maxage=60', undefined],
    ['no-cache', undefined],
    ['max-age=', undefined],
    ['max-age=abc', undefined],
    [undefined, undefined],
  ];
  it.each(cases)('%j → %s', (value, expected) => {
    expect(parseMaxAge(value)).toBe(expected);
  });
});
