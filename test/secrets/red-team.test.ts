// Issue 18 (red-team pass), findings 2, 4, 5 and the feed id of 7: published text stays text, and a
// source's secrets stay secret after a permanent redirect, in its path and when short. Each check
// that something is absent is backed by one that shows the thing around it is there.
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  cdataPropName: false,
  processEntities: true,
  htmlEntities: false,
});

let upstream: Upstream | undefined;
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  await upstream?.close();
  t = undefined;
  upstream = undefined;
});

function atom(
  base: string,
  title: string,
  entries: Array<{ id: string; title: string; link: string; content?: string }>,
  home = `${base}/`,
): string {
  const items = entries
    .map(
      (entry) =>
        `<entry><id>${entry.id}</id><title>${entry.title}</title><link href="${entry.link}"/><updated>2024-03-01T10:00:00Z</updated>` +
        `${entry.content === undefined ? '' : `<content type="html">${entry.content}</content>`}</entry>`,
    )
    .join('');
  return (
    `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>${base}/feed</id><title>${title}</title>` +
    `<link rel="alternate" href="${home}"/><updated>2024-03-01T10:00:00Z</updated>${items}</feed>`
  );
}

/** Every public format of the feed, and the source's API views: what the world and the owner see. */
async function published(app: TestApp, key: string, urls: Record<string, string>, sourceId: string): Promise<Record<string, string>> {
  const bodies: Record<string, string> = {};
  for (const [format, url] of Object.entries(urls))
    bodies[format] = (await app.app.inject({ method: 'GET', url: url.slice(PUBLIC_URL.length) })).body;
  for (const path of ['/api/v1/sources', `/api/v1/sources/${sourceId}`, `/api/v1/sources/${sourceId}/items`, '/api/v1/feeds']) {
    bodies[path] = (await app.api(key, { method: 'GET', url: path })).body;
  }
  return bodies;
}

/** The SQLite files of the app, as bytes: what a stolen disk shows. */
function storeHolds(app: TestApp, secret: string): string[] {
  return readdirSync(app.dir)
    .filter((name) => name.startsWith('feedproxy.sqlite'))
    .filter((name) => readFileSync(join(app.dir, name)).includes(Buffer.from(secret)));
}

describe('finding 2: text in RSS stays text for an HTML-rendering reader', () => {
  // Harmless text upstream: the title's text is `<img src=x onerror=alert(1)>`, written escaped twice.
  const RSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>Tom &amp;amp; &amp;lt;b&amp;gt;Jerry&amp;lt;/b&amp;gt;</title>
    <link>https://tomandjerry.example/</link><description>d</description>
    <item><title>&amp;lt;img src=x onerror=alert(1)&amp;gt;</title><link>https://tomandjerry.example/1</link><guid>https://tomandjerry.example/1</guid>
    <category>&amp;lt;script&amp;gt;c&amp;lt;/script&amp;gt;</category><pubDate>Fri, 01 Mar 2024 10:00:00 GMT</pubDate></item></channel></rss>`;

  it('publishes the RSS title, channel title and names so that no tag forms, and the same text as Atom and JSON Feed', async () => {
    upstream = await startUpstream({ '/feed.rss': serveBody(RSS, { contentType: 'application/rss+xml' }) });
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed.rss') } });
    expect(source.statusCode).toBe(201);
    const feed = await t.api(key, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'Mine <i>feed</i> & more', sources: [source.json().id], options: { sourceInfo: true } },
    });
    const bodies = await published(t, key, feed.json().urls, source.json().id);

    // Positive controls: the text is there, as plain text, in JSON Feed (plain by its spec) and Atom.
    const json = JSON.parse(bodies.json ?? '') as {
      title: string;
      items: Array<{ title: string; _feedproxy: { source: { title: string } } }>;
    };
    expect(json.items[0]?.title).toBe('<img src=x onerror=alert(1)>');
    expect(json.items[0]?._feedproxy.source.title).toBe('Tom & <b>Jerry</b>');
    expect(json.title).toBe('Mine <i>feed</i> & more');
    const atomEntry = xml.parse(bodies.atom ?? '').feed.entry;
    expect(atomEntry.title['@type']).toBe('html');
    expect(atomEntry.title['#text']).toBe('&lt;img src=x onerror=alert(1)&gt;');

    // RSS: each text element's value (XML decoded) is HTML whose text is ours: no `<` left to open a
    // tag. Titles escape only that (rssText); a lone `&` or `>` reads the same as text and as HTML.
    const channel = xml.parse(bodies.rss ?? '').rss.channel;
    const item = channel.item;
    expect(item.title).toBe('&lt;img src=x onerror=alert(1)>');
    expect(channel.title).toBe('Mine &lt;i>feed&lt;/i> & more');
    expect(channel.description).not.toContain('<');
    expect(item.source['#text']).toBe('Tom & &lt;b&gt;Jerry&lt;/b&gt;');
    expect(item.category).toBe('&lt;script&gt;c&lt;/script&gt;');
    expect(bodies.rss).not.toMatch(/<img|<script|<b>|<i>/);
  });
});

describe('finding 4: a token stays secret after an upstream permanent redirect', () => {
  // Letters only: not a token by the path rule, so only the source's memory of it keeps it secret.
  const SECRET = 'movingsecretvaluezz';

  it("keeps the old URL's token out of the API, the published feed and the store once the upstream moved it into the path", async () => {
    let moved = false;
    upstream = await startUpstream();
    const base = upstream.url('');
    upstream.route('/moved.atom', (request, response) => {
      if (moved) return redirectTo(response, `/newhome/${SECRET}/feed.atom`);
      serveBody(atom(base, 'Before', [{ id: `${base}/posts/1`, title: 'Before the move', link: `${base}/posts/1` }]))(request, response);
    });
    let entries = [
      { id: `${base}/newhome/${SECRET}/posts/2`, title: `Moved to /newhome/${SECRET}/`, link: `${base}/newhome/${SECRET}/posts/2` },
    ];
    upstream.route(`/newhome/${SECRET}/feed.atom`, (request, response) =>
      serveBody(atom(base, `Home of ${SECRET}`, entries, `${base}/newhome/${SECRET}/`))(request, response),
    );
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const source = await t.api(key, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url(`/moved.atom?token=${SECRET}`) },
    });
    expect(source.statusCode).toBe(201);
    const id = source.json().id as string;
    const feed = await t.api(key, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'F', sources: [id], options: { sourceInfo: true } },
    });

    moved = true;
    // The redirect, then the new URL itself (where the secrets used to be recomputed from), then a new entry.
    for (const step of [0, 1, 2]) {
      if (step === 2)
        entries = [...entries, { id: `${base}/newhome/${SECRET}/posts/3`, title: 'Third', link: `${base}/newhome/${SECRET}/posts/3` }];
      const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
      expect(refreshed.json().status).toBe('ok');
    }
    const bodies = await published(t, key, feed.json().urls, id);

    // Positive controls: the redirect was followed and the new URL fetched directly, its entries published.
    expect(upstream.requests.filter((request) => request.url === `/newhome/${SECRET}/feed.atom`).length).toBeGreaterThanOrEqual(3);
    expect(bodies.atom).toContain('/posts/3');
    expect(bodies.atom).toContain('/newhome/REDACTED/posts/2');
    expect(JSON.parse(bodies[`/api/v1/sources/${id}`] ?? '').url).toBe(upstream.url('/newhome/***/feed.atom'));
    for (const [surface, body] of Object.entries(bodies)) expect(body.includes(SECRET), surface).toBe(false);
    expect(storeHolds(t, SECRET)).toEqual([]);
    t.logs.forEach((line) => expect(line.includes(SECRET), line).toBe(false));
  });
});

function redirectTo(response: import('node:http').ServerResponse, location: string): void {
  response.writeHead(301, { location, 'content-length': '0' }).end();
}

describe('finding 5: tokens in the path, matrix parameters and short query values', () => {
  const PATH_TOKEN = 'PATHTOKEN7777777';
  const SESSION = 'JSESSION4a5b6c7d8e';
  const SHORT = 'Zq9x';

  it('masks them in the API, scrubs them from entries and the source facet, and keeps them out of the store', async () => {
    upstream = await startUpstream((request, response) => {
      const path = new URL(request.url ?? '/', 'http://upstream').pathname;
      if (!path.startsWith(`/p/${PATH_TOKEN}/feed.atom`)) return void response.writeHead(404).end();
      const home = `${base}/p/${PATH_TOKEN}/`;
      serveBody(
        atom(
          base,
          'Private podcast',
          [
            {
              id: `${base}/items/1?k=${SHORT}`,
              title: `Episode 1 (atom and more), see ${base}/x?k=${SHORT}`,
              link: `${base}/p/${PATH_TOKEN}/episodes/1.mp3;jsessionid=${SESSION}`,
              content: `&lt;a href="${base}/p/${PATH_TOKEN}/e/1?k=${SHORT}&amp;amp;t=1"&gt;listen&lt;/a&gt; token ${PATH_TOKEN}`,
            },
          ],
          home,
        ),
      )(request, response);
    });
    const base = upstream.url('');
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const url = upstream.url(`/p/${PATH_TOKEN}/feed.atom;jsessionid=${SESSION}?fmt=atom&k=${SHORT}`);
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
    expect(source.statusCode).toBe(201);
    const id = source.json().id as string;
    const feed = await t.api(key, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'F', sources: [id], options: { sourceInfo: true } },
    });
    expect((await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` })).json().status).toBe('ok');
    const bodies = await published(t, key, feed.json().urls, id);

    // Positive controls: the upstream got the token, and the entry is published with its words and links.
    expect(
      upstream.requests.some((request) => request.url.includes(PATH_TOKEN) && request.url.includes(SESSION) && request.url.includes(SHORT)),
    ).toBe(true);
    expect(bodies.atom).toContain('Episode 1 (atom and more)');
    expect(bodies.atom).toContain('/p/REDACTED/episodes/1.mp3;jsessionid=REDACTED');
    expect(bodies.json).toContain('k=REDACTED');
    expect(JSON.parse(bodies[`/api/v1/sources/${id}`] ?? '').url).toBe(upstream.url('/p/***/feed.atom;jsessionid=***?fmt=***&k=***'));
    for (const secret of [PATH_TOKEN, SESSION, SHORT]) {
      for (const [surface, body] of Object.entries(bodies)) expect(body.includes(secret), `${surface} shows ${secret}`).toBe(false);
      expect(storeHolds(t, secret)).toEqual([]);
      t.logs.forEach((line) => expect(line.includes(secret), line).toBe(false));
    }
  });
});

describe('finding 5: values the user marks as secret', () => {
  // Letters only: the path rule does not take it for a token.
  const MARKED = 'lettersonlypathtoken';

  it('masks and scrubs a marked value from then on, and refuses one too short to be a secret', async () => {
    upstream = await startUpstream((request, response) => {
      const entry = { id: `${base}/u/${MARKED}/1`, title: `For ${MARKED}`, link: `${base}/u/${MARKED}/1` };
      serveBody(atom(base, `Per user ${MARKED}`, [entry]))(request, response);
    });
    const base = upstream.url('');
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/u/${MARKED}/feed.atom`) } });
    const id = source.json().id as string;
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [id] } });
    // Positive control: unmarked, it shows.
    expect(source.json().url).toContain(MARKED);
    expect(source.json().title).toContain(MARKED);
    expect((await published(t, key, feed.json().urls, id)).atom).toContain(`/u/${MARKED}/1`);

    const short = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { secrets: ['abc'] } });
    expect(short.statusCode).toBe(400);
    const marked = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { secrets: [MARKED] } });
    expect(marked.statusCode).toBe(200);
    expect(marked.json().url).toBe(upstream.url('/u/***/feed.atom'));
    // The source's own title, taken from the upstream, is scrubbed too (it is shown and published).
    expect(marked.json().title).not.toContain(MARKED);
    const bodies = await published(t, key, feed.json().urls, id);
    expect(bodies.atom).toContain('/u/REDACTED/1');
    for (const [surface, body] of Object.entries(bodies)) expect(body.includes(MARKED), surface).toBe(false);
    // And on later refreshes, from the sealed list the source keeps.
    expect((await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` })).json().status).toBe('ok');
    for (const [surface, body] of Object.entries(await published(t, key, feed.json().urls, id)))
      expect(body.includes(MARKED), surface).toBe(false);
  });
});

describe('finding 7: the Atom feed id', () => {
  it('does not show the internal feed id, and stays the same across edits, rotations and restarts', async () => {
    upstream = await startUpstream({
      '/feed.atom': serveBody(
        atom('https://plain.example', 'Plain', [{ id: 'https://plain.example/1', title: 'One', link: 'https://plain.example/1' }]),
      ),
    });
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const dir = t.dir;
    const key = await t.createUserKey();
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed.atom') } });
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [source.json().id] } });
    const feedId = feed.json().id as string;
    const atomId = async (app: TestApp, urls: Record<string, string>) =>
      xml.parse((await app.app.inject({ method: 'GET', url: (urls.atom ?? '').slice(PUBLIC_URL.length) })).body).feed.id as string;

    const first = await atomId(t, feed.json().urls);
    expect(first).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(first).not.toContain(feedId);
    const edited = await t.api(key, { method: 'PATCH', url: `/api/v1/feeds/${feedId}`, payload: { title: 'F, renamed' } });
    expect(await atomId(t, edited.json().urls)).toBe(first);
    const rotated = await t.api(key, { method: 'POST', url: `/api/v1/feeds/${feedId}/rotate` });
    expect(rotated.json().urls.atom).not.toBe(feed.json().urls.atom);
    expect(await atomId(t, rotated.json().urls)).toBe(first);

    await t.app.close();
    await t.deps.close();
    t = await startTestApp({ dir, allowPrivate: [upstream.hostPort] });
    await t.api(key, { method: 'PATCH', url: `/api/v1/feeds/${feedId}`, payload: { title: 'F, after the restart' } });
    expect(await atomId(t, rotated.json().urls)).toBe(first);
    await t.close();
    t = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
});

// Session 20's security review: an upstream's validators are kept to be sent back as they came, so
// they cannot be masked; one that echoes the token must not reach the store in clear.
describe('an upstream whose ETag echoes the token', () => {
  const TOKEN = 'feedtoken9f8e7d6c5b4a';

  /** An app (the caller's to close), a user and their source of the upstream's `/feed?feed_token=TOKEN`. */
  async function tokenSource(at: Upstream): Promise<{ app: TestApp; key: string; id: string }> {
    const app = await startTestApp({ allowPrivate: [at.hostPort] });
    const key = await app.createUserKey();
    const created = await app.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: at.url(`/feed?feed_token=${TOKEN}`) } });
    expect(created.statusCode, created.body).toBe(201);
    return { app, key, id: created.json().id as string };
  }

  it('is fetched without that validator: the token is in no stored record, on create nor after the ETag changes', async () => {
    let generation = 1;
    const requests: Array<string | undefined> = [];
    upstream = await startUpstream((request, response) => {
      requests.push(request.headers['if-none-match']);
      const etag = generation === 3 ? '"plain-3"' : `"g${generation}-${TOKEN}"`;
      if (request.headers['if-none-match'] === etag) return void response.writeHead(304, { etag }).end();
      response.writeHead(200, { 'content-type': 'application/atom+xml', etag });
      response.end(atom(base, 'Echoing', [{ id: `urn:e${generation}`, title: `Entry ${generation}`, link: `${base}/e/${generation}` }]));
    });
    const base = upstream.url('');
    const source = await tokenSource(upstream);
    t = source.app;
    const { key, id } = source;
    generation = 2;
    expect((await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` })).json().status).toBe('ok');
    // Positive control: the upstream sent the token in its ETag, twice, and both answers were read.
    expect((await t.deps.registry.getEntries(id)).map((entry) => entry.title).sort()).toEqual(['Entry 1', 'Entry 2']);
    expect(storeHolds(t, TOKEN)).toEqual([]);
    expect((await t.deps.registry.getSource(id))?.etag).toBeUndefined();
    // No conditional request carried it back either: the validator was never kept.
    expect(requests.filter((value) => value?.includes(TOKEN))).toEqual([]);

    // An ETag without the token is kept, and sent back.
    generation = 3;
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect((await t.deps.registry.getSource(id))?.etag).toBe('"plain-3"');
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect(requests.at(-1)).toBe('"plain-3"');
  });

  it('drops a stored validator holding a value the user then marks secret, and never sends it back', async () => {
    const MARKED = 'gardenparty';
    const requests: Array<string | undefined> = [];
    upstream = await startUpstream((request, response) => {
      requests.push(request.headers['if-none-match']);
      const etag = `"v-${MARKED}"`;
      if (request.headers['if-none-match'] === etag) return void response.writeHead(304, { etag }).end();
      response.writeHead(200, { 'content-type': 'application/atom+xml', etag });
      response.end(atom(base, 'Garden', [{ id: 'urn:e1', title: 'Entry', link: `${base}/e/1` }]));
    });
    const base = upstream.url('');
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/u/${MARKED}/feed`) } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    // Positive control: not yet a secret, the validator is kept and sent back.
    expect((await t.deps.registry.getSource(id))?.etag).toBe(`"v-${MARKED}"`);
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect(requests.at(-1)).toBe(`"v-${MARKED}"`);

    const edited = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { secrets: [MARKED] } });
    expect(edited.statusCode, edited.body).toBe(200);
    expect((await t.deps.registry.getSource(id))?.etag).toBeUndefined();
    const sent = requests.length;
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect(requests.slice(sent)).toEqual([undefined, undefined]);
    expect((await t.deps.registry.getSource(id))?.etag).toBeUndefined();
  });

  it('drops one an earlier release stored, though the upstream answers 304 to it', async () => {
    const requests: Array<string | undefined> = [];
    upstream = await startUpstream((request, response) => {
      requests.push(request.headers['if-none-match']);
      const held = request.headers['if-none-match'];
      if (held !== undefined) return void response.writeHead(304, { etag: held }).end();
      response.writeHead(200, { 'content-type': 'application/atom+xml', etag: '"plain"' });
      response.end(atom(base, 'Echoing', [{ id: 'urn:e1', title: 'Entry', link: `${base}/e/1` }]));
    });
    const base = upstream.url('');
    const source = await tokenSource(upstream);
    t = source.app;
    const { key, id } = source;
    // The record as a release before validators were checked left it: the token in its ETag, masked under older rules.
    const stored = (await t.deps.registry.getSource(id))!;
    await t.deps.registry.saveSource({ ...stored, etag: `"old-${TOKEN}"`, urlMaskedFor: 'masked-under-older-rules' });
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    // Positive control: it was sent, and the upstream answered 304 to it.
    expect(requests.at(-1)).toBe(`"old-${TOKEN}"`);
    expect((await t.deps.registry.getSource(id))?.etag).toBeUndefined();
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect(requests.at(-1)).toBeUndefined();
    expect((await t.deps.registry.getSource(id))?.etag).toBe('"plain"');
  });
});

// Session 21's security review: a message can quote a secret lower-cased (the format detector folds
// a root element's name, the URL parser a host's), and a create's error was not scrubbed at all.
describe('an error message that quotes the token', () => {
  it('never carries it, whatever its case, in a create answer or a refresh error', async () => {
    const TOKEN = 'TokMIXEDroot0123456789';
    let rootNamedByToken = true;
    upstream = await startUpstream((request, response) => {
      const token = new URL(request.url ?? '/', 'http://upstream').searchParams.get('token') ?? '';
      if (rootNamedByToken) return void response.writeHead(200, { 'content-type': 'application/xml' }).end(`<${token}/>`);
      response.writeHead(200, { 'content-type': 'application/atom+xml' });
      response.end(atom(upstream!.url(''), 'Fine', [{ id: 'urn:e1', title: 'Entry', link: upstream!.url('/e/1') }]));
    });
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const url = upstream.url(`/feed?token=${TOKEN}`);
    const refused = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
    // Positive control: refused for the element the upstream named.
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json().message).toMatch(/root element/);
    expect(refused.body.toLowerCase()).not.toContain(TOKEN.toLowerCase());

    rootNamedByToken = false;
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
    expect(created.statusCode, created.body).toBe(201);
    rootNamedByToken = true;
    const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${created.json().id}/refresh` });
    const source = (await t.deps.registry.getSource(created.json().id))!;
    expect(source.lastError).toMatch(/root element/);
    expect(source.lastError!.toLowerCase()).not.toContain(TOKEN.toLowerCase());
    expect(refreshed.body.toLowerCase()).not.toContain(TOKEN.toLowerCase());
  });
});
