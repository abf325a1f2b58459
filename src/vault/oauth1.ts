// OAuth 1.0a request signing (RFC 5849 §3). The only import of `oauth-1.0a`.
//
// Why the base string is computed here and not by the library: oauth-1.0a 2.2.6 gets the
// signature base string wrong for real-world URLs (checked against RFC 5849 §3.4.1):
// - it does not decode query *names* (`c%40=` is signed as `c%2540`, the RFC wants `c%40`);
// - it splits `a=b=c` on every `=` and drops the rest of the value;
// - it does not treat `+` in the query as a space (§3.4.1.3.1 decodes the query as
//   application/x-www-form-urlencoded);
// - it sorts repeated values by their decoded form (§3.4.1.3.2 sorts the encoded ones), loses the
//   first of two repeated keys when it is empty, and lets a query parameter overwrite a body
//   parameter of the same name (the RFC example's body `a3=2 q` disappears);
// - it keeps the host's case and the default port in the base string URI and signs the fragment
//   as part of the last query value (§3.4.1.2 lower-cases and drops them);
// - it draws nonces from Math.random.
// So this wrapper builds the base string (and the nonce) itself and uses the library for what it
// does right: the signing key (`consumer&token`, RFC 3986-encoded) and the Authorization header.
import { createHmac, createSign, randomBytes } from 'node:crypto';
import OAuth from 'oauth-1.0a';
import { OAuthError } from '../errors.js';

export type SignatureMethod = 'HMAC-SHA1' | 'HMAC-SHA256' | 'PLAINTEXT' | 'RSA-SHA1';

export interface OAuthCredentials {
  key: string;
  secret: string;
}

export interface SignOAuth1Input {
  method: string;
  /** The URL exactly as it will be sent; its query is signed. */
  url: string;
  /** application/x-www-form-urlencoded body parameters, signed with the query (§3.4.1.3.1). */
  body?: Record<string, string>;
  consumer: OAuthCredentials;
  token?: OAuthCredentials;
  signatureMethod?: SignatureMethod;
  /** PEM private key for RSA-SHA1. */
  privateKeyPem?: string;
  /** Extra protocol parameters such as `oauth_callback` or `oauth_verifier`. */
  oauthParams?: Record<string, string>;
  nowSeconds?: number;
  nonce?: string;
}

/** Protocol parameters the signer owns; callers may not override them through `oauthParams`. */
const OWNED_PARAMS = new Set([
  'oauth_consumer_key',
  'oauth_nonce',
  'oauth_signature',
  'oauth_signature_method',
  'oauth_timestamp',
  'oauth_token',
  'oauth_version',
]);

export function signOAuth1(input: SignOAuth1Input): { authorization: string } {
  const signatureMethod = input.signatureMethod ?? 'HMAC-SHA1';
  const url = parseSignableUrl(input.url);
  // RFC 5849 §3.4.4: PLAINTEXT sends the secrets themselves, so only over TLS.
  if (signatureMethod === 'PLAINTEXT' && url.protocol !== 'https:') {
    throw new OAuthError('PLAINTEXT signatures are only allowed over https');
  }
  if (signatureMethod === 'RSA-SHA1' && !input.privateKeyPem) {
    throw new OAuthError('RSA-SHA1 signing needs a private key');
  }

  const oauthParams: Record<string, string> = {
    oauth_consumer_key: input.consumer.key,
    oauth_nonce: input.nonce ?? randomBytes(16).toString('hex'),
    oauth_signature_method: signatureMethod,
    oauth_timestamp: String(Math.floor(input.nowSeconds ?? Date.now() / 1000)),
    oauth_version: '1.0',
  };
  if (input.token) oauthParams.oauth_token = input.token.key;
  for (const [name, value] of Object.entries(input.oauthParams ?? {})) {
    if (!name.startsWith('oauth_') || OWNED_PARAMS.has(name)) {
      throw new OAuthError(`protocol parameter ${name.startsWith('oauth_') ? name : '(non-oauth)'} cannot be set by the caller`);
    }
    oauthParams[name] = value;
  }

  const library = new OAuth({ consumer: input.consumer, signature_method: signatureMethod, hash_function: (_base, key) => key });
  const signingKey = library.getSigningKey(input.token?.secret);
  const baseString = buildSignatureBaseString(input.method, input.url, oauthParams, input.body ?? {});

  let signature: string;
  switch (signatureMethod) {
    case 'HMAC-SHA1':
      signature = createHmac('sha1', signingKey).update(baseString).digest('base64');
      break;
    case 'HMAC-SHA256':
      signature = createHmac('sha256', signingKey).update(baseString).digest('base64');
      break;
    case 'RSA-SHA1':
      // §3.4.3: the base string signed with the client's RSA key (EMSA-PKCS1-v1_5, SHA-1).
      signature = createSign('RSA-SHA1')
        .update(baseString)
        .sign(input.privateKeyPem as string, 'base64');
      break;
    case 'PLAINTEXT':
      // §3.4.4: the signature is the signing key itself.
      signature = signingKey;
      break;
  }

  const header = library.toHeader({ ...oauthParams, oauth_signature: signature } as unknown as OAuth.Authorization);
  return { authorization: header.Authorization };
}

/**
 * The signature base string of RFC 5849 §3.4.1: METHOD & base-string-URI & normalized parameters,
 * where the parameters are the URL's query as sent, the form body and the protocol parameters.
 */
export function buildSignatureBaseString(
  method: string,
  url: string,
  oauthParams: Record<string, string>,
  body: Record<string, string> = {},
): string {
  const parsed = parseSignableUrl(url);
  // §3.4.1.2: scheme and host lower-case, default port left out, no query, no fragment. WHATWG
  // URL already normalises host, scheme and default port the way the request will carry them.
  const baseUri = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;

  const pairs: Array<[string, string]> = [];
  for (const [name, value] of decodeQuery(parsed.search)) pairs.push([encodeBytes(name), encodeBytes(value)]);
  for (const [name, value] of Object.entries(body)) pairs.push([encodeString(name), encodeString(value)]);
  for (const [name, value] of Object.entries(oauthParams)) {
    if (name === 'oauth_signature' || name === 'realm') continue;
    pairs.push([encodeString(name), encodeString(value)]);
  }
  // §3.4.1.3.2: sort by encoded name, then by encoded value; encoded strings are ASCII, so
  // comparing UTF-16 code units is byte order.
  pairs.sort(([nameA, valueA], [nameB, valueB]) => compare(nameA, nameB) || compare(valueA, valueB));
  const normalized = pairs.map(([name, value]) => `${name}=${value}`).join('&');

  return [method.toUpperCase(), encodeString(baseUri), encodeString(normalized)].join('&');
}

function parseSignableUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL itself may carry a secret, so it is not repeated here.
    throw new OAuthError('cannot sign an invalid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new OAuthError('only http(s) URLs can be signed');
  return parsed;
}

/**
 * §3.4.1.3.1: the query as application/x-www-form-urlencoded, decoded to octets (not to text, so a
 * percent-escape that is not UTF-8 round-trips unchanged), repeated and empty names kept.
 */
function decodeQuery(search: string): Array<[Buffer, Buffer]> {
  const query = search.startsWith('?') ? search.slice(1) : search;
  const pairs: Array<[Buffer, Buffer]> = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const name = equals === -1 ? part : part.slice(0, equals);
    const value = equals === -1 ? '' : part.slice(equals + 1);
    pairs.push([decodeFormComponent(name), decodeFormComponent(value)]);
  }
  return pairs;
}

function decodeFormComponent(text: string): Buffer {
  const bytes: number[] = [];
  const raw = Buffer.from(text.replaceAll('+', ' '), 'utf8');
  for (let index = 0; index < raw.length; index++) {
    const byte = raw[index] as number;
    if (byte === 0x25 && index + 2 < raw.length && isHex(raw[index + 1]) && isHex(raw[index + 2])) {
      bytes.push(Number.parseInt(String.fromCharCode(raw[index + 1] as number, raw[index + 2] as number), 16));
      index += 2;
    } else {
      // A stray `%` stays literal, as servers that tolerate it read it.
      bytes.push(byte);
    }
  }
  return Buffer.from(bytes);
}

function isHex(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}

/** RFC 3986 §2.3 percent-encoding as RFC 5849 §3.6 wants it: everything but unreserved, upper-case hex. */
export function encodeRfc3986(value: string): string {
  return encodeBytes(Buffer.from(value, 'utf8'));
}

function encodeString(value: string): string {
  return encodeBytes(Buffer.from(value, 'utf8'));
}

function encodeBytes(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      (byte >= 0x30 && byte <= 0x39) || // 0-9
      byte === 0x2d ||
      byte === 0x2e ||
      byte === 0x5f ||
      byte === 0x7e; // - . _ ~
    out += unreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
