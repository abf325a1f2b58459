// Keeping a source URL's secrets out of everything we show. Upstream feeds often repeat their own
// tokenized URL (in links, self links, ids, enclosure URLs), so every string of every entry is
// scrubbed before it is cached, and URLs are masked before they reach an API answer or a log.

import { escapeHtml, escapeText } from '../text.js';

export const REDACTED = 'REDACTED';
/**
 * Names what scrubText and scrubEntry replace for a given list of secrets: change it with any change
 * to how they match, so entries a refresh found scrubbed under the old matching are checked again
 * (refresh/refresh-source.ts, SourceRecord.entriesScrubbedFor).
 */
export const SCRUB_RULES = 'scrub-rules-1';
/**
 * Names how maskUrl masks: change it with any change to maskUrl (or to what it masks), so every
 * record's stored mask is worked out again by its next refresh (SourceRecord.urlMaskedFor), and
 * its stored validators checked with it (validatorToKeep). 2: records from before validators were
 * checked may hold an ETag carrying a secret, which a run of 304s would otherwise keep.
 */
export const MASK_RULES = 'mask-rules-2';

/** Shorter query values are parameters like `?page=2`, not credentials, except inside a URL (see urlParamRule). */
const MIN_SECRET_LENGTH = 6;

/** Pinboard puts the capability in the path: `/rss/secret:abc123…/u:name/`. */
const PATH_SECRET = /^secret(?::|%3a)(.*)$/i;

/** scheme://authority path ?query #fragment, taken apart without normalising anything. */
const URL_PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/is;

/**
 * A path segment that is a token rather than a name (README "Secrets in the path"): at least 16
 * characters of the alphabets tokens are written in (base64, base64url, hex, UUIDs), holding a run
 * of at least 12 letters and digits that mixes both. Words, slugs (`my-post-2024`), dates and
 * numeric ids never have such a run; `PATHTOKEN7777777`, `private-0a1b2c3d4e5f…` and UUIDs do.
 */
const TOKEN_ALPHABET = /^[a-z0-9._~+=-]{16,}$/i;
const MIXED_RUN = /[a-z0-9]{12,}/gi;

/**
 * Marks a URL-context rule among the secret strings: `MARK name = value` is a short query or matrix
 * value, scrubbed only where it stands as that parameter's value inside a URL (MARK is a control
 * character that no text we scrub carries: render/ and parse/ strip them).
 */
const URL_PARAM_MARK = '\u0000';

/** A path segment split into its core (what is checked), file extension and matrix parameters. */
function splitSegment(segment: string): { core: string; extension: string; matrix: string } {
  const semicolon = segment.indexOf(';');
  const name = semicolon < 0 ? segment : segment.slice(0, semicolon);
  const matrix = semicolon < 0 ? '' : segment.slice(semicolon);
  const extension = /\.[a-z0-9]{1,5}$/i.exec(name)?.[0] ?? '';
  return { core: name.slice(0, name.length - extension.length), extension, matrix };
}

/** Whether a path segment's core (decoded) is a token (TOKEN_ALPHABET and MIXED_RUN above). */
export function isTokenSegment(core: string): boolean {
  const decoded = decodeComponent(core);
  if (!TOKEN_ALPHABET.test(decoded)) return false;
  return (decoded.match(MIXED_RUN) ?? []).some((run) => /[0-9]/.test(run) && /[a-z]/i.test(run));
}

interface RawSecrets {
  /** Values secret wherever they appear. */
  values: string[];
  /** Short or plain-word query and matrix values, secret only as that parameter's value in a URL. */
  params: Array<[name: string, value: string]>;
}

/**
 * A selector's value (`?feed=podcast`, `?q=typescript`, `?cat=12345`, `?tag=machine-learning`):
 * a parameter whose name is one feeds select content by (SELECTOR_NAME) holding a word — lower-case
 * or capitalised words, or a number of at most seven digits. Scrubbed wherever it appeared, such a
 * value cut itself out of the feed's own text and links: "REDACTEDing tips", an episode at
 * `/REDACTED/ep12.mp3` no app could play. Anything else — any other name, a value mixing cases or
 * letters and digits, a longer number — may be a credential (`?k=HqXbRwTzKpLm`, `?s=48151623…`) and
 * stays secret everywhere.
 */
const SELECTOR_NAME =
  /^(?:feed|q|query|search|s|cat|category|categories|tag|tags|topic|section|channel|podcast|series|show|format|type|kind|lang|language|locale|sort|order|orderby|view|mode|style|page|paged|limit|count|per_page)$/i;
const WORD_VALUE = /^(?:\p{Ll}+|\p{Lu}\p{Ll}*)(?:[-_.+ ](?:\p{Ll}+|\p{Lu}\p{Ll}*))*$|^\d{1,7}$/u;

/** Whether a query or matrix value is secret only where it stands as that parameter's value in a URL. */
function isUrlContextValue(name: string, value: string): boolean {
  const decoded = decodeComponent(value);
  return decoded.length < MIN_SECRET_LENGTH || (SELECTOR_NAME.test(decodeComponent(name)) && WORD_VALUE.test(decoded));
}

function rawSecretsOf(url: string): RawSecrets {
  const parts = URL_PARTS.exec(url.trim());
  const values: string[] = [];
  const params: Array<[string, string]> = [];
  const addParam = (param: string) => {
    if (param === '') return;
    const equals = param.indexOf('=');
    const value = equals < 0 ? param : param.slice(equals + 1);
    const inUrlsOnly = equals > 0 && value !== '' && isUrlContextValue(param.slice(0, equals), value);
    if (inUrlsOnly) params.push([param.slice(0, equals), value]);
    // A short one is kept with the source's secrets as before (formsOf leaves it out of what is scrubbed anywhere).
    if (!inUrlsOnly || decodeComponent(value).length < MIN_SECRET_LENGTH) values.push(value);
  };
  const query = parts ? parts[4] : url.split('?').slice(1).join('?').split('#')[0];
  for (const param of (query ?? '').split('&')) addParam(param);
  if (parts) {
    for (const segment of (parts[3] ?? '').split('/')) {
      const { core, matrix } = splitSegment(segment);
      const secret = PATH_SECRET.exec(core)?.[1];
      if (secret) values.push(secret);
      else if (isTokenSegment(core)) values.push(core, ...(decodeComponent(core).match(MIXED_RUN) ?? []));
      for (const param of matrix.split(';')) addParam(param);
    }
    const authority = parts[2] ?? '';
    const at = authority.lastIndexOf('@');
    const colon = authority.indexOf(':');
    if (at >= 0 && colon >= 0 && colon < at) values.push(authority.slice(colon + 1, at));
  }
  return { values, params };
}

/**
 * The values of a URL that a source keeps as its secrets for good (SourceRecord.secretsSealed): query
 * and matrix values, token path segments, `secret:` segments and a userinfo password, as written.
 */
export function secretPartsOf(url: string): string[] {
  return [...new Set(rawSecretsOf(url).values.filter((value) => value !== ''))];
}

/**
 * Every value in the URL that may be a credential — query and matrix values (and bare query
 * parameters) of at least six characters, token path segments (isTokenSegment), `secret:` path
 * segments, a userinfo password — and every value in `known` (what the source's URLs carried
 * before, README "Secrets"), in each form it may take in a document: as written, decoded,
 * percent-encoded (either hex case), form-encoded and HTML-escaped. Longest first, so that replacing
 * them in order never leaves part of one behind. Shorter query and matrix values come as URL-context
 * rules (scrubbed only as that parameter's value inside a URL, so `?format=atom` never turns the
 * word "atom" into REDACTED).
 */
export function secretValuesOf(url: string, known: readonly string[] = []): string[] {
  const { values, params } = rawSecretsOf(url);
  // A source created before the selector rule kept its selector's value (`podcast`) among its secrets
  // for good: the URL that still carries it as a selector says what it is.
  const selectors = new Set(params.map(([, value]) => value));
  const forms = new Set(formsOf([...values, ...known.filter((value) => !selectors.has(value))]));
  for (const [name, value] of params) {
    for (const form of new Set([value, decodeComponent(value), encodeURIComponent(decodeComponent(value))]))
      forms.add(`${URL_PARAM_MARK}${name}=${form}`);
  }
  return sortLongestFirst([...forms]);
}

/** Each form a raw secret value may take in a document (see secretValuesOf); none shorter than six characters. */
function formsOf(rawValues: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const raw of rawValues) {
    const decoded = decodeComponent(raw);
    if (decoded.length < MIN_SECRET_LENGTH) continue;
    for (const form of [raw, decoded, encodeURIComponent(decoded), new URLSearchParams({ v: decoded }).toString().slice(2)]) {
      forms.add(form);
      forms.add(lowerHex(form));
      // Escaped as our HTML escaping writes it, and as sanitize-html does (quotes left alone in text).
      forms.add(escapeHtml(form));
      forms.add(escapeText(form));
    }
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/** Every occurrence of every secret in `text` becomes REDACTED. */
export function scrubText(text: string, secrets: readonly string[]): string {
  return replaceSecrets(text, sortLongestFirst(secrets));
}

/**
 * scrubText for a message we write (an error): each secret also replaced whatever its case, since a
 * message may quote it lower-cased — a host name the URL parser folded (`http://<token>.invalid/`
 * redirected to), a root element name the format detector folded. Messages are short.
 */
export function scrubMessage(text: string, secrets: readonly string[]): string {
  let scrubbed = scrubText(text, secrets);
  for (const secret of sortLongestFirst(secrets)) {
    if (secret.startsWith(URL_PARAM_MARK) || secret.length < MIN_SECRET_LENGTH) continue;
    scrubbed = scrubbed.replace(new RegExp(escapeRegExp(secret), 'gi'), REDACTED);
  }
  return scrubbed;
}

/**
 * An upstream's validator (ETag, Last-Modified) as the store may keep it: it is sent back as it came,
 * so it cannot be masked — one that holds a secret value is not kept at all (that upstream is then
 * fetched without it).
 */
export function validatorToKeep(value: string | undefined, secrets: readonly string[]): string | undefined {
  return value === undefined || scrubText(value, secrets) === value ? value : undefined;
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
 * The URL as it may be shown: scheme, host and path kept, user:password dropped, every query and
 * matrix value, token path segment and `secret:` path segment replaced by ***, any fragment too; and
 * wherever one of `known` (the source's earlier secrets) still shows, it is replaced too.
 * Placeholders such as `{user_id}` survive because nothing is re-encoded.
 */
export function maskUrl(url: string, known: readonly string[] = []): string {
  const parts = URL_PARTS.exec(url.trim());
  if (!parts) return '***';
  const [, scheme = '', authority = '', path = '', query, fragment] = parts;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const maskedPath = path.split('/').map(maskSegment).join('/');
  let masked = `${scheme}${host}${maskedPath}`;
  if (query !== undefined) masked += `?${query.split('&').map(maskParam).join('&')}`;
  if (fragment !== undefined) masked += '#***';
  for (const form of sortLongestFirst(formsOf(known))) if (masked.includes(form)) masked = masked.split(form).join('***');
  return masked;
}

function maskSegment(segment: string): string {
  const { core, extension, matrix } = splitSegment(segment);
  const maskedMatrix = matrix === '' ? '' : `;${matrix.slice(1).split(';').map(maskParam).join(';')}`;
  if (PATH_SECRET.test(core)) return `secret:***${extension}${maskedMatrix}`;
  return `${isTokenSegment(core) ? '***' : core}${extension}${maskedMatrix}`;
}

function maskParam(param: string): string {
  if (param === '') return param;
  const equals = param.indexOf('=');
  return equals < 0 ? '***' : `${param.slice(0, equals)}=***`;
}

/** `secrets` sorted longest first, so a secret containing another is replaced whole. */
function replaceSecrets(text: string, secrets: readonly string[]): string {
  // Where each secret occurs in the text as given is marked, then the text is written once with each
  // marked stretch replaced: a copy of the text for each secret found cost seconds when an item held
  // the values of a URL of many (session 21's security review). Overlapping occurrences make one
  // stretch, so no part of a longer secret is left behind a shorter one.
  let covered: Uint8Array | undefined;
  for (const secret of secrets) {
    if (secret.startsWith(URL_PARAM_MARK)) continue;
    for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + secret.length)) {
      (covered ??= new Uint8Array(text.length)).fill(1, at, at + secret.length);
    }
  }
  let scrubbed = covered === undefined ? text : withCoveredReplaced(text, covered);
  for (const secret of secrets) {
    if (secret.startsWith(URL_PARAM_MARK)) scrubbed = replaceUrlParam(scrubbed, secret.slice(URL_PARAM_MARK.length));
  }
  return scrubbed;
}

/** `text` with each run of covered characters replaced by one REDACTED. */
function withCoveredReplaced(text: string, covered: Uint8Array): string {
  const parts: string[] = [];
  let written = 0;
  for (let start = covered.indexOf(1); start >= 0;) {
    let end = covered.indexOf(0, start);
    if (end < 0) end = text.length;
    parts.push(text.slice(written, start), REDACTED);
    written = end;
    start = covered.indexOf(1, end);
  }
  parts.push(text.slice(written));
  return parts.join('');
}

/**
 * `name=value` as a query or matrix parameter inside a URL — after `?`, `&`, `&amp;` or `;`, and
 * ending where the value does — keeps its name and loses its value. Elsewhere the text is left alone.
 */
function replaceUrlParam(text: string, pair: string): string {
  if (!text.includes(pair)) return text;
  const equals = pair.indexOf('=');
  const name = escapeRegExp(pair.slice(0, equals));
  const value = escapeRegExp(pair.slice(equals + 1));
  const pattern = new RegExp(`([?&;]${name}=)${value}(?=$|[&;#"'<>\\s])`, 'g');
  return text.replace(pattern, `$1${REDACTED}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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
