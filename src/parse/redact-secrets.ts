// A source URL's query values are its secrets (PRODUCT.md "Secrets"), and feeds repeat them: a
// per-user feed's alternate link, an entry link or a link inside the content often carries the
// same `feed_token`. Everything parse/ hands on passes through here first.
import { scrubText, secretValuesOf } from '../secrets/scrub.js';

export interface SecretRedactor {
  /** The URL without query parameters that repeat the source URL's (and without userinfo). */
  redactUrl(url: string): string;
  /** The text with every secret value replaced (pipeline/scrub decides what counts as one). */
  redactText(text: string): string;
  /** Whether the string carries one of the secrets. */
  containsSecret(text: string): boolean;
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
  const secrets = secretValuesOf(sourceUrl);
  const secretSet = new Set(secrets);

  function containsSecret(text: string): boolean {
    return secrets.some((secret) => text.includes(secret));
  }

  function redactText(text: string): string {
    return scrubText(text, secrets);
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
      if (pairs.has(`${name}=${value}`) || secretSet.has(value)) parsed.searchParams.delete(name, value);
    }
    return redactText(parsed.href);
  }

  return { redactUrl, redactText, containsSecret };
}
