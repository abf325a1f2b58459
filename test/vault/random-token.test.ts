import { describe, expect, it } from 'vitest';
import { randomToken } from '../../src/vault/seal.js';

describe('randomToken', () => {
  // With plain base64url, 1 draw in 32 starts with `-` or `_`: across 5,000 draws that is all but
  // certain, and an id like `-GISUI4pZdj4` made `feedproxy opml import FILE --user ID` an option error.
  it('never starts an id with a character a command line or shell reads as special', () => {
    const tokens = Array.from({ length: 5_000 }, () => randomToken());
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{23}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('keeps the requested length', () => {
    expect(randomToken(32)).toHaveLength(43);
  });
});
