// The three-legged OAuth 1.0a flow (RFC 5849 §2) and signed resource calls, over an injected
// Fetcher so every call goes through the same SSRF guard and caps as feed fetches. Provider
// quirks come from configuration: extra authorize parameters, extra access-token fields
// (`user_id`) that fill placeholders, extra query parameters on every resource call.
import { OAuthError, type CodedError } from '../errors.js';
import type { Fetcher, RawRequest, RawResponse, RequestSigner } from '../fetch/types.js';
import { encodeRfc3986, signOAuth1 } from '../vault/oauth1.js';
import { parseFeedLinks, type FeedLink } from './parse-links.js';
import { fillPlaceholders, placeholderValues, type OAuthProviderConfig } from './provider.js';

export type { FeedLink } from './parse-links.js';

export interface OAuthToken {
  token: string;
  secret: string;
}

export interface RequestToken extends OAuthToken {
  /** Every other field of the response (e.g. Netflix `application_name`, `login_url`). */
  fields: Record<string, string>;
  /** The callback sent with the request, `oob` for out-of-band. */
  callbackUrl: string;
  /** OAuth 1.0a providers confirm the callback (§2.1); 1.0 providers take it on the authorize URL. */
  callbackConfirmed: boolean;
}

export interface AccessToken extends OAuthToken {
  /** Every other field of the response (e.g. `user_id`, `screen_name`): fills `{placeholders}`. */
  params: Record<string, string>;
}

export interface ClockOptions {
  /** Seconds added to our clock for `oauth_timestamp`, learnt from a `timestamp_refused`. */
  clockOffsetSeconds?: number;
}

/** Token fields kept out of `fields`/`params`, which callers may store and show in clear. */
const TOKEN_FIELDS = new Set(['oauth_token', 'oauth_token_secret', 'oauth_callback_confirmed']);

/** Step 1 (§2.1): temporary credentials, with our callback (or `oob`). */
export async function getRequestToken(provider: OAuthProviderConfig, fetcher: Fetcher, callbackUrl: string): Promise<RequestToken> {
  const url = fillPlaceholders(provider.requestTokenUrl, placeholderValues(provider));
  const fields = await callTokenEndpoint(provider, fetcher, url, 'request token', undefined, { oauth_callback: callbackUrl });
  const confirmed = fields.get('oauth_callback_confirmed');
  if (confirmed !== null && confirmed !== 'true') throw new OAuthError('provider did not confirm the callback');
  const token = requiredField(fields, 'oauth_token', 'request token');
  const secret = requiredField(fields, 'oauth_token_secret', 'request token');
  return { token, secret, fields: extraFields(fields), callbackUrl, callbackConfirmed: confirmed === 'true' };
}

/**
 * Step 2 (§2.2): where to send the user's browser. Adds `oauth_token`, the callback when the
 * provider did not confirm it (OAuth 1.0, §6.2.1 of the 1.0 spec), and the provider's
 * `authorizeParams` filled from the consumer and the request-token response (Netflix wants
 * `application_name` and `oauth_consumer_key` there, or refuses the login page).
 */
export function buildAuthorizeUrl(
  provider: OAuthProviderConfig,
  requestToken: Pick<RequestToken, 'token' | 'fields' | 'callbackUrl' | 'callbackConfirmed'>,
): string {
  const values = placeholderValues(provider, { ...requestToken.fields, oauth_token: requestToken.token });
  let url: URL;
  try {
    url = new URL(fillPlaceholders(provider.authorizeUrl, values));
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    throw new OAuthError(`provider ${provider.id} has an invalid authorizeUrl`);
  }
  url.searchParams.set('oauth_token', requestToken.token);
  if (!requestToken.callbackConfirmed && requestToken.callbackUrl !== 'oob') {
    url.searchParams.set('oauth_callback', requestToken.callbackUrl);
  }
  for (const [name, template] of Object.entries(provider.authorizeParams ?? {})) {
    url.searchParams.set(name, fillPlaceholders(template, values, 'text'));
  }
  return url.href;
}

/** Step 3 (§2.3): token credentials, plus every extra field the provider returns (`user_id`…). */
export async function getAccessToken(
  provider: OAuthProviderConfig,
  fetcher: Fetcher,
  requestToken: OAuthToken,
  verifier?: string,
): Promise<AccessToken> {
  const url = fillPlaceholders(provider.accessTokenUrl, placeholderValues(provider));
  const oauthParams: Record<string, string> = verifier === undefined ? {} : { oauth_verifier: verifier };
  const fields = await callTokenEndpoint(provider, fetcher, url, 'access token', requestToken, oauthParams);
  const token = requiredField(fields, 'oauth_token', 'access token');
  const secret = requiredField(fields, 'oauth_token_secret', 'access token');
  return { token, secret, params: extraFields(fields) };
}

/**
 * A RequestSigner for fetch/: a fresh nonce and timestamp on every call (every attempt and every
 * redirect hop), signing the URL exactly as it is sent. Build that URL with `withExtraParams`
 * first, so the provider's extra parameters are part of what is signed.
 */
export function createSigner(provider: OAuthProviderConfig, access: OAuthToken, options: ClockOptions = {}): RequestSigner {
  return signerFor(provider, access, {}, options.clockOffsetSeconds ?? 0);
}

/**
 * `url` with the provider's `extraParams` appended to its query (those it does not already carry).
 * The existing query is kept byte for byte, so what is signed is what is sent.
 */
export function withExtraParams(url: string, provider: Pick<OAuthProviderConfig, 'extraParams'>): string {
  const extra = Object.entries(provider.extraParams ?? {});
  if (extra.length === 0) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OAuthError('cannot add parameters to an invalid URL');
  }
  const present = new URLSearchParams(parsed.search);
  const added = extra.filter(([name]) => !present.has(name)).map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`);
  if (added.length === 0) return parsed.href;
  const query = parsed.search.length > 1 ? `${parsed.search.slice(1)}&` : '';
  parsed.search = `?${query}${added.join('&')}`;
  return parsed.href;
}

/**
 * One signed resource call through the fetcher, retried once with a corrected clock when the
 * provider refuses our timestamp. Returns the response whatever its status, and the clock offset
 * that worked, for the caller to keep with the connection.
 */
export async function requestSigned(
  provider: OAuthProviderConfig,
  fetcher: Fetcher,
  access: OAuthToken,
  request: { url: string; method?: 'GET' | 'POST'; headers?: Record<string, string> },
  options: ClockOptions = {},
): Promise<{ response: RawResponse; clockOffsetSeconds: number }> {
  const url = withExtraParams(request.url, provider);
  let offset = options.clockOffsetSeconds ?? 0;
  for (let attempt = 0; ; attempt++) {
    const raw: RawRequest = { method: request.method ?? 'GET', url, sign: signerFor(provider, access, {}, offset) };
    if (request.headers) raw.headers = request.headers;
    const response = await fetcher.request(raw);
    const retryOffset = attempt === 0 ? parseTimestampRefused(response.status, response.headers, response.body) : undefined;
    if (retryOffset === undefined) return { response, clockOffsetSeconds: offset };
    offset = retryOffset;
  }
}

/** The feeds the provider lists for this user at its `feedsUrl` (`{user_id}` filled from `params`). */
export async function discoverFeeds(
  provider: OAuthProviderConfig,
  fetcher: Fetcher,
  access: OAuthToken,
  params: Record<string, string>,
  options: ClockOptions = {},
): Promise<FeedLink[]> {
  if (!provider.feedsUrl) throw new OAuthError(`provider ${provider.id} has no feedsUrl`);
  const url = fillPlaceholders(provider.feedsUrl, placeholderValues(provider, params));
  const { response } = await requestSigned(provider, fetcher, access, { url }, options);
  if (response.status !== 200) throw httpError('feed discovery', response);
  return parseFeedLinks(response.body.toString('utf8'), response.finalUrl);
}

/**
 * Reads a `timestamp_refused` answer (OAuth Problem Reporting extension:
 * `oauth_problem=timestamp_refused&oauth_acceptable_timestamps=a-b`, in WWW-Authenticate or the
 * body) and returns the clock offset, in seconds, that puts our timestamp in the middle of the
 * accepted range. Undefined for any other answer.
 */
export function parseTimestampRefused(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer | string,
  nowSeconds: number = Date.now() / 1000,
): number | undefined {
  if (status !== 400 && status !== 401) return undefined;
  const text = `${headerValue(headers, 'www-authenticate')}\n${problemText(body)}`;
  if (!/oauth_problem\s*=\s*"?timestamp_refused\b/.test(text)) return undefined;
  const range = /oauth_acceptable_timestamps\s*=\s*"?(\d+)\s*-\s*(\d+)/.exec(text);
  if (!range) return undefined;
  const low = Number(range[1]);
  const high = Number(range[2]);
  return Math.round((Math.min(low, high) + Math.max(low, high)) / 2 - nowSeconds);
}

async function callTokenEndpoint(
  provider: OAuthProviderConfig,
  fetcher: Fetcher,
  url: string,
  step: string,
  token: OAuthToken | undefined,
  oauthParams: Record<string, string>,
): Promise<URLSearchParams> {
  let offset = 0;
  for (let attempt = 0; ; attempt++) {
    // §2.1/§2.3: the token endpoints take POST; the protocol parameters ride in the header.
    const response = await fetcher.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
      sign: signerFor(provider, token, oauthParams, offset),
    });
    if (response.status === 200) return new URLSearchParams(response.body.toString('utf8').trim());
    const retryOffset = attempt === 0 ? parseTimestampRefused(response.status, response.headers, response.body) : undefined;
    if (retryOffset === undefined) throw httpError(step, response);
    offset = retryOffset;
  }
}

function signerFor(
  provider: OAuthProviderConfig,
  token: OAuthToken | undefined,
  oauthParams: Record<string, string>,
  clockOffsetSeconds: number,
): RequestSigner {
  return ({ method, url }) => {
    const signed = signOAuth1({
      method,
      url,
      consumer: { key: provider.consumerKey, secret: provider.consumerSecret },
      token: token ? { key: token.token, secret: token.secret } : undefined,
      signatureMethod: provider.signatureMethod ?? 'HMAC-SHA1',
      privateKeyPem: provider.privateKeyPem,
      oauthParams,
      nowSeconds: Math.floor(Date.now() / 1000) + clockOffsetSeconds,
    });
    return { Authorization: signed.authorization };
  };
}

function requiredField(fields: URLSearchParams, name: string, step: string): string {
  const value = fields.get(name);
  if (!value) throw new OAuthError(`${step} response lacks ${name}`);
  return value;
}

function extraFields(fields: URLSearchParams): Record<string, string> {
  const extra: Record<string, string> = {};
  for (const [name, value] of fields) if (!TOKEN_FIELDS.has(name)) extra[name] = value;
  return extra;
}

/** A safe error for a refused call: the step, the status and the provider's problem code only. */
function httpError(step: string, response: RawResponse): CodedError {
  const problem = /oauth_problem\s*=\s*"?([a-z_]{1,40})\b/.exec(
    `${headerValue(response.headers, 'www-authenticate')}\n${problemText(response.body)}`,
  )?.[1];
  const error = new OAuthError(`${step} refused: HTTP ${response.status}${problem ? ` (${problem})` : ''}`) as CodedError;
  error.upstreamStatus = response.status;
  return error;
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(', ') : (value ?? '');
  }
  return '';
}

/** The head of an error body: enough for a problem report, never a whole (capped) download. */
function problemText(body: Buffer | string): string {
  return (typeof body === 'string' ? body : body.subarray(0, 4096).toString('utf8')).slice(0, 4096);
}
