// A fake OAuth 1.0a provider on 127.0.0.1 with Netflix's quirks, for tests of src/oauth/.
// It checks every signature with its own base-string and HMAC-SHA1 code, written here from
// RFC 5849 §3.4 and deliberately sharing nothing with src/vault/oauth1.ts (nor oauth-1.0a), so a
// bug in the signer cannot be mirrored by the verifier.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFetcher, type Fetcher } from '../../src/fetch/index.js';
import type { OAuthProviderConfig } from '../../src/oauth/provider.js';

export interface FakeProviderOptions {
  consumerKey?: string;
  consumerSecret?: string;
  applicationName?: string;
  userId?: string;
  /** Behave as an OAuth 1.0 provider: no `oauth_callback_confirmed`, callback on the login URL, no verifier. */
  oauth10?: boolean;
  /** Accepted distance between `oauth_timestamp` and the provider's clock, seconds. */
  timestampToleranceSeconds?: number;
}

export interface FakeProviderStats {
  requests: number;
  byPath: Record<string, number>;
  /** The last Authorization header received, verbatim. */
  lastAuthorization?: string;
  /** oauth_problem codes answered, counted. */
  problems: Record<string, number>;
}

export interface FakeProvider {
  baseUrl: string;
  /** `127.0.0.1:port`, for an allow-list of private addresses. */
  hostPort: string;
  config: OAuthProviderConfig;
  userId: string;
  /** The capability token in the provider's tokenized feed URLs. */
  feedToken: string;
  /** Every secret credential handed out so far: request-token secrets, access tokens and their secrets. */
  issued: string[];
  /** Revokes an access token: every later call signed with it gets 401 `token_revoked`. */
  revoke(token: string): void;
  /** Refuses the queue requests `forbidden` picks with 403 `permission_denied` (the token stays good); undefined lifts it. */
  forbid(forbidden: ((url: URL) => boolean) | undefined): void;
  /** Answers the queue requests `moved` gives a URL for with a 302 there (after checking the signature); undefined lifts it. */
  redirect(moved: ((url: URL) => string | undefined) | undefined): void;
  /** Moves the provider's clock; timestamps outside its tolerance get 401 `timestamp_refused`. */
  setClockOffset(seconds: number): void;
  /** Runs `hook` before each oauth_problem answer goes out (a test acting at that moment); undefined removes it. */
  beforeProblem(hook: ((problem: string) => Promise<void>) | undefined): void;
  stats: FakeProviderStats;
  close(): Promise<void>;
}

interface RequestTokenRecord {
  secret: string;
  callback?: string;
  verifier?: string;
  authorized: boolean;
}

interface AccessTokenRecord {
  secret: string;
  userId: string;
  revoked: boolean;
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly problem: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(problem);
  }
}

const TOKENIZED_FEEDS: Record<string, { title: string; rel: string }> = {
  'queues/disc': { title: 'Disc Queue', rel: 'http://schemas.netflix.com/feed.queues.disc' },
  at_home: { title: 'Titles at Home', rel: 'http://schemas.netflix.com/feed.at_home' },
  recommendations: { title: 'Recommendations & more', rel: 'http://schemas.netflix.com/feed.recommendations' },
};

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const consumerKey = options.consumerKey ?? 'k5mds6sfn594x4drvtw96n37';
  const consumerSecret = options.consumerSecret ?? 'srKNVRubKX';
  const applicationName = options.applicationName ?? 'Feed Proxy Test';
  const userId = options.userId ?? `T1${randomBytes(6).toString('hex')}`;
  const feedToken = randomBytes(12).toString('hex');
  const tolerance = options.timestampToleranceSeconds ?? 300;
  const oauth10 = options.oauth10 ?? false;

  const requestTokens = new Map<string, RequestTokenRecord>();
  const accessTokens = new Map<string, AccessTokenRecord>();
  const issued: string[] = [];
  const seenNonces = new Set<string>();
  const stats: FakeProviderStats = { requests: 0, byPath: {}, problems: {} };
  let clockOffset = 0;
  let baseUrl = '';
  let problemHook: ((problem: string) => Promise<void>) | undefined;
  let forbidden: ((url: URL) => boolean) | undefined;
  let movedTo: ((url: URL) => string | undefined) | undefined;

  const providerNow = () => Math.floor(Date.now() / 1000) + clockOffset;

  /** Verifies the request's OAuth signature; returns the protocol parameters. */
  function authenticate(
    req: IncomingMessage,
    body: string,
    tokenSecretOf: (token: string | undefined) => string | undefined,
  ): Record<string, string> {
    const header = req.headers.authorization;
    if (!header) throw new Problem(401, 'parameter_absent');
    const oauth = parseAuthorizationHeader(header);
    for (const name of ['oauth_consumer_key', 'oauth_signature_method', 'oauth_timestamp', 'oauth_nonce', 'oauth_signature']) {
      if (oauth[name] === undefined) throw new Problem(400, 'parameter_absent');
    }
    if (oauth.oauth_consumer_key !== consumerKey) throw new Problem(401, 'consumer_key_unknown');
    if (oauth.oauth_signature_method !== 'HMAC-SHA1') throw new Problem(400, 'signature_method_rejected');
    if (oauth.oauth_version !== undefined && oauth.oauth_version !== '1.0') throw new Problem(400, 'version_rejected');

    const now = providerNow();
    if (Math.abs(Number(oauth.oauth_timestamp) - now) > tolerance) {
      throw new Problem(401, 'timestamp_refused', { oauth_acceptable_timestamps: `${now - tolerance}-${now + tolerance}` });
    }

    const tokenSecret = tokenSecretOf(oauth.oauth_token);
    if (tokenSecret === undefined) throw new Problem(401, 'token_rejected');

    const expected = hmacSha1(`${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`, baseStringOf(req, body, oauth));
    const given = Buffer.from(oauth.oauth_signature as string);
    const wanted = Buffer.from(expected);
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) throw new Problem(401, 'signature_invalid');

    // RFC 5849 §3.3: a nonce is unique per timestamp and credentials; a replay is refused.
    const nonceKey = [oauth.oauth_consumer_key, oauth.oauth_token ?? '', oauth.oauth_timestamp, oauth.oauth_nonce].join('&');
    if (seenNonces.has(nonceKey)) throw new Problem(401, 'nonce_used');
    seenNonces.add(nonceKey);
    return oauth;
  }

  function accessTokenSecret(token: string | undefined): string | undefined {
    const record = token === undefined ? undefined : accessTokens.get(token);
    if (record?.revoked) throw new Problem(401, 'token_revoked');
    return record?.secret;
  }

  function requireUser(oauth: Record<string, string>, pathUserId: string): void {
    const record = accessTokens.get(oauth.oauth_token as string);
    if (record?.userId !== pathUserId) throw new Problem(403, 'permission_denied');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, baseUrl);
    const body = await readBody(req);
    stats.requests += 1;
    stats.byPath[url.pathname] = (stats.byPath[url.pathname] ?? 0) + 1;
    if (req.headers.authorization !== undefined) stats.lastAuthorization = req.headers.authorization;

    if (url.pathname === '/oauth/request_token') {
      const oauth = authenticate(req, body, (token) => (token === undefined ? '' : undefined));
      if (!oauth10 && oauth.oauth_callback === undefined) throw new Problem(400, 'parameter_absent');
      const token = randomBytes(10).toString('hex');
      const secret = randomBytes(10).toString('hex');
      const record: RequestTokenRecord = { secret, authorized: false };
      issued.push(secret);
      if (!oauth10) record.callback = oauth.oauth_callback as string;
      requestTokens.set(token, record);
      const fields: Record<string, string> = { oauth_token: token, oauth_token_secret: secret };
      if (!oauth10) fields.oauth_callback_confirmed = 'true';
      fields.application_name = applicationName;
      fields.login_url = `${baseUrl}/oauth/login?oauth_token=${token}`;
      return sendForm(res, fields);
    }

    if (url.pathname === '/oauth/login' && req.method === 'GET') {
      const token = url.searchParams.get('oauth_token') ?? '';
      const record = requestTokens.get(token);
      // Netflix's login page refuses to show without these two.
      if (url.searchParams.get('application_name') !== applicationName || url.searchParams.get('oauth_consumer_key') !== consumerKey) {
        return sendText(res, 400, 'application_name and oauth_consumer_key are required');
      }
      if (!record) return sendText(res, 400, 'unknown oauth_token');
      const callback = oauth10 ? url.searchParams.get('oauth_callback') : record.callback;
      if (!callback) return sendText(res, 400, 'no callback');
      record.authorized = true;
      if (!oauth10) record.verifier = randomBytes(8).toString('hex');
      if (callback === 'oob') return sendText(res, 200, `verifier: ${record.verifier ?? ''}`);
      const target = new URL(callback);
      target.searchParams.set('oauth_token', token);
      if (record.verifier) target.searchParams.set('oauth_verifier', record.verifier);
      res.writeHead(302, { location: target.href }).end();
      return;
    }

    if (url.pathname === '/oauth/access_token') {
      const oauth = authenticate(req, body, (token) => (token === undefined ? undefined : requestTokens.get(token)?.secret));
      const record = requestTokens.get(oauth.oauth_token as string) as RequestTokenRecord;
      if (!record.authorized) throw new Problem(401, 'permission_unknown');
      if (!oauth10 && oauth.oauth_verifier !== record.verifier) throw new Problem(401, 'verifier_invalid');
      // Temporary credentials are single-use (RFC 5849 §2.3).
      requestTokens.delete(oauth.oauth_token as string);
      const token = randomBytes(12).toString('hex');
      const secret = randomBytes(12).toString('hex');
      accessTokens.set(token, { secret, userId, revoked: false });
      issued.push(token, secret);
      return sendForm(res, { oauth_token: token, oauth_token_secret: secret, user_id: userId });
    }

    const feedsMatch = /^\/users\/([^/]+)\/feeds$/.exec(url.pathname);
    if (feedsMatch && req.method === 'GET') {
      const oauth = authenticate(req, body, accessTokenSecret);
      requireUser(oauth, decodeURIComponent(feedsMatch[1] as string));
      const links = Object.entries(TOKENIZED_FEEDS).map(
        ([name, feed]) =>
          `  <link href="${escapeXml(`${baseUrl}/feeds/${name}?feed_token=${feedToken}&oauth_consumer_key=${consumerKey}`)}" rel="${feed.rel}" title="${escapeXml(feed.title)}"/>`,
      );
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" standalone="yes"?>\n<resource>\n${links.join('\n')}\n</resource>\n`);
      return;
    }

    const queueMatch = /^\/users\/([^/]+)\/queues\/disc$/.exec(url.pathname);
    if (queueMatch && req.method === 'GET') {
      const oauth = authenticate(req, body, accessTokenSecret);
      requireUser(oauth, decodeURIComponent(queueMatch[1] as string));
      if (forbidden?.(url)) throw new Problem(403, 'permission_denied');
      const location = movedTo?.(url);
      if (location !== undefined) {
        res.writeHead(302, { location });
        res.end();
        return;
      }
      if (url.searchParams.get('output') !== 'atom') return sendText(res, 400, 'output=atom required');
      return sendAtom(res, 'Disc Queue', `${baseUrl}/users/${queueMatch[1]}/queues/disc`);
    }

    const tokenizedMatch = /^\/feeds\/(.+)$/.exec(url.pathname);
    const tokenized = tokenizedMatch ? TOKENIZED_FEEDS[tokenizedMatch[1] as string] : undefined;
    if (tokenized && req.method === 'GET') {
      if (url.searchParams.get('feed_token') !== feedToken) return sendText(res, 401, 'bad feed_token');
      return sendAtom(res, tokenized.title, `${baseUrl}${url.pathname}`);
    }

    sendText(res, 404, 'not found');
  }

  function respondProblem(res: ServerResponse, problem: Problem): void {
    stats.problems[problem.problem] = (stats.problems[problem.problem] ?? 0) + 1;
    const fields = { oauth_problem: problem.problem, ...problem.extra };
    const header = Object.entries(fields)
      .map(([name, value]) => `${name}="${percentEncode(value)}"`)
      .join(', ');
    res.writeHead(problem.status, {
      'www-authenticate': `OAuth realm="${baseUrl}", ${header}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    res.end(formEncode(fields));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!(error instanceof Problem)) return sendText(res, 500, 'fake provider failed');
      const answer = () => respondProblem(res, error);
      if (!problemHook) return answer();
      return problemHook(error.problem).then(answer, () => sendText(res, 500, 'fake provider failed'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const hostPort = `127.0.0.1:${port}`;
  baseUrl = `http://${hostPort}`;

  return {
    baseUrl,
    hostPort,
    userId,
    feedToken,
    issued,
    stats,
    config: {
      id: 'netflix',
      requestTokenUrl: `${baseUrl}/oauth/request_token`,
      authorizeUrl: `${baseUrl}/oauth/login`,
      accessTokenUrl: `${baseUrl}/oauth/access_token`,
      consumerKey,
      consumerSecret,
      signatureMethod: 'HMAC-SHA1',
      authorizeParams: { oauth_consumer_key: '{consumerKey}', application_name: '{application_name}' },
      feedsUrl: `${baseUrl}/users/{user_id}/feeds`,
      extraParams: { output: 'atom' },
    },
    revoke(token) {
      const record = accessTokens.get(token);
      if (record) record.revoked = true;
    },
    forbid(which) {
      forbidden = which;
    },
    redirect(moved) {
      movedTo = moved;
    },
    setClockOffset(seconds) {
      clockOffset = seconds;
    },
    beforeProblem(hook) {
      problemHook = hook;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

// --- The verifier's own RFC 5849 §3.4 implementation ---------------------------------------------

/** RFC 5849 §3.6: RFC 3986 unreserved characters stay, everything else is %XX of its UTF-8. */
function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** application/x-www-form-urlencoded pairs, `+` as space, repeated and empty names kept. */
function formDecode(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of text.split('&')) {
    if (!part) continue;
    const [name = '', ...rest] = part.split('=');
    const decode = (component: string) => decodeURIComponent(component.replace(/\+/g, ' '));
    pairs.push([decode(name), decode(rest.join('='))]);
  }
  return pairs;
}

function formEncode(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`)
    .join('&');
}

/** §3.5.1: `OAuth name="value", …` with percent-encoded values; `realm` is not a parameter. */
function parseAuthorizationHeader(header: string): Record<string, string> {
  const match = /^OAuth\s+(.*)$/is.exec(header.trim());
  if (!match) throw new Problem(400, 'parameter_absent');
  const params: Record<string, string> = {};
  for (const [, name, value] of (match[1] as string).matchAll(/([A-Za-z0-9_.~-]+)\s*=\s*"([^"]*)"/g)) {
    if (name === 'realm') continue;
    if (params[name as string] !== undefined) throw new Problem(400, 'parameter_rejected');
    params[name as string] = decodeURIComponent(value as string);
  }
  return params;
}

/** §3.4.1: method, base string URI from the request line and Host, every parameter sorted. */
function baseStringOf(req: IncomingMessage, body: string, oauth: Record<string, string>): string {
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
  const host = (req.headers.host ?? '').toLowerCase();
  const baseUri = `http://${host}${path}`;

  const params = [...formDecode(query)];
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) params.push(...formDecode(body));
  for (const [name, value] of Object.entries(oauth)) if (name !== 'oauth_signature') params.push([name, value]);

  const normalized = params
    .map(([name, value]) => [percentEncode(name), percentEncode(value)] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  return `${(req.method ?? 'GET').toUpperCase()}&${percentEncode(baseUri)}&${percentEncode(normalized)}`;
}

function hmacSha1(key: string, text: string): string {
  return createHmac('sha1', key).update(text).digest('base64');
}

// --- Plumbing ------------------------------------------------------------------------------------

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendForm(res: ServerResponse, fields: Record<string, string>): void {
  res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' });
  res.end(formEncode(fields));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

function sendAtom(res: ServerResponse, title: string, selfUrl: string): void {
  res.writeHead(200, { 'content-type': 'application/atom+xml' });
  res.end(`<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>${escapeXml(title)}</title>
  <id>${escapeXml(selfUrl)}</id>
  <updated>2009-06-01T12:00:00Z</updated>
  <link rel="self" href="${escapeXml(selfUrl)}"/>
  <entry>
    <title>The Big Lebowski</title>
    <id>http://api.netflix.com/catalog/titles/movies/60026023</id>
    <updated>2009-06-01T12:00:00Z</updated>
    <link rel="alternate" href="http://www.netflix.com/Movie/The_Big_Lebowski/60026023"/>
  </entry>
  <entry>
    <title>Brazil</title>
    <id>http://api.netflix.com/catalog/titles/movies/445066</id>
    <updated>2009-05-30T08:00:00Z</updated>
    <link rel="alternate" href="http://www.netflix.com/Movie/Brazil/445066"/>
  </entry>
</feed>
`);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// --- The real fetcher, kept on this machine ----------------------------------------------------

export interface TestFetcher extends Fetcher {
  /** Hosts a request named that are not loopback: recorded and refused, never resolved or contacted. */
  refused: string[];
}

const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1']);

/**
 * src/fetch's fetcher with `allowPrivate` opened for the given `127.0.0.1:port` servers, and both
 * of its seams closed to the outside: name resolution answers only `localhost` (any other name is
 * recorded and refused, so not even a DNS packet leaves), and the connect step refuses any
 * non-loopback address.
 */
export function createTestFetcher(allowPrivate: string[]): TestFetcher {
  const refused: string[] = [];
  const refuse = (hostname: string) => {
    refused.push(hostname);
    return Object.assign(new Error('refused by the test connector'), { code: 'ECONNREFUSED' });
  };
  const fetcher = createFetcher(
    {
      allowPrivate,
      maxBodyBytes: 1024 * 1024,
      timeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      maxRedirects: 5,
      userAgent: 'feedproxy-test',
      connect: ({ hostname, address }) => {
        if (!LOOPBACK_ADDRESSES.has(address)) throw refuse(hostname);
      },
    },
    {
      lookup: async (hostname) => {
        if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
        throw refuse(hostname);
      },
    },
  );
  return Object.assign(fetcher, { refused });
}
