// A source URL's query values are its secrets (PRODUCT.md "Secrets"), and feeds repeat them: a
// per-user feed's alternate link, an entry link or a link inside the content often carries the
// same `feed_token`. Everything parse/ hands on passes through here first.
import { createHash } from 'node:crypto';

// Shorter values are too likely to be ordinary words ("atom", "1") to be cut out of free text.
const MIN_TEXT_SECRET_LENGTH = 8;

export interface SecretRedactor {
  /** The URL without query parameters that repeat the source URL's (and without userinfo). */
  redactUrl(url: string): string;
  /** The text with every long-enough secret value replaced. */
  redactText(text: string): string;
  /** Whether the string carries one of the secrets. */
  containsSecret(text: string): boolean;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function readQueryPairs(sourceUrl: string): Array<[string, string]> {
  try {
    return [...new URL(sourceUrl).searchParams].filter(([, value]) => value !== '');
  } catch {
    return [];
  }
}

/** Builds the redactor for the secrets of `sourceUrl` (the feed URL the document came from). */
export function createSecretRedactor(sourceUrl: string): SecretRedactor {
  const pairs = new Set(readQueryPairs(sourceUrl).map(([name, value]) => `${name}=${value}`));
  const longValues = [...new Set(readQueryPairs(sourceUrl).map(([, value]) => value))].filter(
    (value) => value.length >= MIN_TEXT_SECRET_LENGTH,
  );
  // A value may appear raw or percent-encoded in links and text; look for both spellings.
  const needles = [...new Set(longValues.flatMap((value) => [value, encodeURIComponent(value)]))].sort(
    (a, b) => b.length - a.length,
  );

  function containsSecret(text: string): boolean {
    return needles.some((needle) => text.includes(needle));
  }

  function redactText(text: string): string {
    let result = text;
    for (const needle of needles) result = result.split(needle).join('REDACTED');
    return result;
  }

  function redactUrl(url: string): string {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return redactText(url);
    }
    parsed.username = '';
    parsed.password = '';
    for (const [name, value] of [...parsed.searchParams]) {
      if (pairs.has(`${name}=${value}`) || longValues.includes(value)) parsed.searchParams.delete(name, value);
    }
    return redactText(parsed.href);
  }

  return { redactUrl, redactText, containsSecret };
}
