import { describe, expect, it } from 'vitest';
import { parseDate } from '../../src/parse/index.js';

describe('parseDate', () => {
  it.each([
    // RFC 822 / RFC 1123 (RSS 2.0)
    ['Sat, 07 Sep 2002 00:00:01 GMT', '2002-09-07T00:00:01.000Z'],
    ['Tue, 12 Mar 2024 06:00:00 +0000', '2024-03-12T06:00:00.000Z'],
    ['Mon, 05 Feb 2024 18:30:00 EST', '2024-02-05T23:30:00.000Z'],
    ['Wed, 1 May 2024 10:00:00 PDT', '2024-05-01T17:00:00.000Z'],
    ['07 Sep 02 09:42 +0200', '2002-09-07T07:42:00.000Z'],
    ['Sunday, 08-Sep-2002 12:00:00 GMT', '2002-09-08T12:00:00.000Z'],
    ['Thu, 01 Feb 2024 10:00:00', '2024-02-01T10:00:00.000Z'],
    ['1 January 2020', '2020-01-01T00:00:00.000Z'],
    // RFC 3339 / ISO 8601 / W3C-DTF
    ['2008-11-04T19:12:33Z', '2008-11-04T19:12:33.000Z'],
    ['2024-02-20T09:30:00-08:00', '2024-02-20T17:30:00.000Z'],
    ['2024-02-20T09:30:00.123456+0100', '2024-02-20T08:30:00.123Z'],
    ['2003-12-13T18:30+02:00', '2003-12-13T16:30:00.000Z'],
    ['2008-03-05 12:00:00', '2008-03-05T12:00:00.000Z'],
    ['2024-03-12', '2024-03-12T00:00:00.000Z'],
    ['2024-03', '2024-03-01T00:00:00.000Z'],
    // Slashed, as some CMSs write pubDate (issue 15: Universal Feed Parser reads these)
    ['2020/1/10 14:33:00', '2020-01-10T14:33:00.000Z'],
    ['2020/12/1', '2020-12-01T00:00:00.000Z'],
  ])('%j → %s', (input, expected) => {
    expect(parseDate(input)).toBe(expected);
  });

  it.each([
    'sometime next week',
    'not a date',
    '',
    '2024-02-31T00:00:00Z',
    '2024-13-01',
    '32 Jan 2024 00:00:00 GMT',
    '0000-00-00 00:00:00',
    '1600-01-01T00:00:00Z',
    '12345',
    'Tue, 12 Foo 2024 06:00:00 GMT',
  ])('drops %j', (input) => {
    expect(parseDate(input)).toBeUndefined();
  });

  it('ignores values that are not strings', () => {
    expect(parseDate(undefined)).toBeUndefined();
    expect(parseDate({})).toBeUndefined();
  });
});
