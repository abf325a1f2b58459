// Keeping a source URL's secrets out of everything we show. Upstream feeds often repeat their own
// tokenized URL (in links, self links, ids, enclosure URLs), so every string of every entry is
// scrubbed before it is cached, and URLs are masked before they reach an API answer or a log.

import { escapeHtml } from '../pipeline/plain-text.js';

export const REDACTED = 'REDACTED';

/** Shorter query values are parameters like `?page=2`, not credentials. */
const MIN_SECRET_LENGTH = 6;

/** Pinboard puts the capability in the path: `/rss/secret:abc123…/u:name/`. */
const PATH_SECRET = /^secret(?::|%3a)(.*)$/i;

/** scheme://authority path ?query #fragment, taken apart without normalising anything. */
const URL_PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/is;

/**
 * Every value in the URL that may be a credential — query values (and bare query parameters) of at
 * least six characters, `secret:` path segments, a userinfo password — in each form it may take in
 * a document: as written in the URL, decoded, percent-encoded (either hex case), form-encoded and
 * HTML-escaped. Longest first, so that replacing them in order never leaves part of one behind.
 */
export function secretValuesOf(url: string): string[] {
  const parts = URL_PARTS.exec(url.trim());
  const rawValues: string[] = [];
  const query = parts ? parts[4] : url.split('?').slice(1).join('?').split('#')[0];
  for (const param of (query ?? '').split('&')) {
    if (param === '') continue;
    const equals = param.indexOf('=');
    rawValues.push(equals < 0 ? param : param.slice(equals + 1));
  }
  if (parts) {
    for (const segment of (parts[3] ?? '').split('/')) {
      const secret = PATH_SECRET.exec(segment)?.[1];
      if (secret) rawValues.push(secret);
    }
    const authority = parts[2] ?? '';
    const at = authority.lastIndexOf('@');
    const colon = authority.indexOf(':');
    if (at >= 0 && colon >= 0 && colon < at) rawValues.push(authority.slice(colon + 1, at));
  }

  const forms = new Set<string>();
  for (const raw of rawValues) {
    const decoded = decodeComponent(raw);
    if (decoded.length < MIN_SECRET_LENGTH) continue;
    for (const form of [raw, decoded, encodeURIComponent(decoded), new URLSearchParams({ v: decoded }).toString().slice(2)]) {
      forms.add(form);
      forms.add(lowerHex(form));
      // Escaped as our HTML escaping writes it, and as sanitize-html does (quotes left alone in text).
      forms.add(escapeHtml(form));
      forms.add(form.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    }
  }
  return sortLongestFirst([...forms].filter((form) => form.length >= MIN_SECRET_LENGTH));
}

/** Every occurrence of every secret in `text` becomes REDACTED. */
export function scrubText(text: string, secrets: readonly string[]): string {
  return replaceSecrets(text, sortLongestFirst(secrets));
}

/**
 * The entry with every secret replaced in every string it holds — id, title, link, summary,
 * content, authors, categories, enclosure URLs and whatever else a later field adds.
 */
export function scrubEntry<T extends object>(entry: T, secrets: readonly string[]): T {
  const ordered = sortLongestFirst(secrets);
  if (ordered.length === 0) return entry;
  return scrubValue(entry, ordered) as T;
}

function scrubValue(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return replaceSecrets(value, secrets);
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, secrets));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, scrubValue(item, secrets)]));
  }
  return value;
}

/**
 * The URL as it may be shown: scheme, host and path kept, user:password dropped, every query value
 * and `secret:` path segment replaced by ***, any fragment too. Placeholders such as `{user_id}`
 * survive because nothing is re-encoded.
 */
export function maskUrl(url: string): string {
  const parts = URL_PARTS.exec(url.trim());
  if (!parts) return '***';
  const [, scheme = '', authority = '', path = '', query, fragment] = parts;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const maskedPath = path
    .split('/')
    .map((segment) => (PATH_SECRET.test(segment) ? 'secret:***' : segment))
    .join('/');
  let masked = `${scheme}${host}${maskedPath}`;
  if (query !== undefined) {
    const params = query.split('&').map((param) => {
      if (param === '') return param;
      const equals = param.indexOf('=');
      return equals < 0 ? '***' : `${param.slice(0, equals)}=***`;
    });
    masked += `?${params.join('&')}`;
  }
  if (fragment !== undefined) masked += '#***';
  return masked;
}

/** `secrets` sorted longest first, so a secret containing another is replaced whole. */
function replaceSecrets(text: string, secrets: readonly string[]): string {
  let scrubbed = text;
  for (const secret of secrets) if (scrubbed.includes(secret)) scrubbed = scrubbed.split(secret).join(REDACTED);
  return scrubbed;
}

function decodeComponent(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

function lowerHex(text: string): string {
  return text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
}


/** Distinct, non-empty (an empty "secret" would redact between every character), longest first. */
function sortLongestFirst(secrets: readonly string[]): string[] {
  return [...new Set(secrets)].filter((secret) => secret !== '').sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
}
