// Episode guids as podcast hosts write them go out as they are in RSS and JSON Feed: podcast apps
// key episodes by guid, and a subscription moved to the proxy must not download every episode
// again. Atom's id must be a URI: a bare UUID becomes its urn:uuid:. Read back by Universal Feed
// Parser, as a podcast app reads guids.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';
import { mergeEntries } from '../../src/pipeline/merge.js';
import { renderFeeds } from '../../src/render/render-feed.js';
import { SYSTEM_PYTHON, hasPythonModules, isolatedEnv, run } from '../interop/tools.js';

const FIXTURE = new URL('../fixtures/feeds/podcast-guids.rss', import.meta.url);
const URLS = { atom: 'https://proxy.example/f.atom', rss: 'https://proxy.example/f.rss', json: 'https://proxy.example/f.json' };
const hasFeedparser = hasPythonModules('feedparser');
const scratch = mkdtempSync(join(tmpdir(), 'feedproxy-guids-'));

/** The fixture as the feed of the given sources (each a copy of it), rendered in every format. */
function render(sourceIds: string[]): { atom: string; rss: string; json: string } {
  const parsed = parseFeed(readFileSync(FIXTURE), { baseUrl: 'https://show.example/feed.rss' });
  const sources = sourceIds.map((sourceId) => ({
    sourceId,
    entries: parsed.entries.map((entry): CachedEntry => ({ ...entry, sourceId, firstSeenAt: '2024-04-05T00:00:00Z' })),
  }));
  const entries = mergeEntries({ sources, limit: 100 });
  const rendered = renderFeeds(['atom', 'rss', 'json'], {
    id: 'urn:feedproxy:feed:guids',
    title: 'Guids',
    alternateUrls: URLS,
    updated: new Date('2024-04-05T00:00:00Z'),
    generator: 'feedproxy test',
    entries,
  });
  return { atom: rendered.atom!.body, rss: rendered.rss!.body, json: rendered.json!.body };
}

async function feedparserIds(body: string, name: string): Promise<string[]> {
  const file = join(scratch, name);
  writeFileSync(file, body);
  const script = 'import json, sys, feedparser\nprint(json.dumps([e.get("id") for e in feedparser.parse(sys.argv[1]).entries]))';
  const result = await run(SYSTEM_PYTHON, ['-c', script, file], { env: isolatedEnv(scratch), timeoutMs: 60_000 });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as string[];
}

const GUIDS = [
  '0D9C5A3E-7F0B-4C1E-9A2D-3B4C5D6E7F80',
  'Buzzsprout-12345678',
  'tag:soundcloud,2010:tracks/123456',
  'https://show.example/?p=1',
];

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('episode guids', () => {
  it('go out as they are in RSS guid and JSON Feed id; Atom ids are URIs, a bare UUID its urn:uuid:', () => {
    const { atom, rss, json } = render(['src']);
    expect([...rss.matchAll(/<guid isPermaLink="(\w+)">([^<]*)<\/guid>/g)].map((match) => [match[1], match[2]])).toEqual([
      ['false', GUIDS[0]],
      ['false', GUIDS[1]],
      ['false', GUIDS[2]],
      ['true', 'https://show.example/?p=1'],
    ]);
    expect((JSON.parse(json) as { items: Array<{ id: string }> }).items.map((item) => item.id)).toEqual(GUIDS);
    const atomIds = atom
      .split('<entry>')
      .slice(1)
      .map((entry) => /<id>([^<]*)<\/id>/.exec(entry)?.[1]);
    expect(atomIds[0]).toBe('urn:uuid:0d9c5a3e-7f0b-4c1e-9a2d-3b4c5d6e7f80');
    expect(atomIds[1]).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(atomIds.slice(2)).toEqual([GUIDS[2], 'https://show.example/?p=1']);
  });

  it('stay unique in a merged feed: the second source giving the same guids gets derived ones', () => {
    const { rss, json } = render(['first', 'second']);
    const guids = [...rss.matchAll(/<guid [^>]*>([^<]*)<\/guid>/g)].map((match) => match[1]);
    expect(new Set(guids).size).toBe(guids.length);
    // Episode 1's link is one page in both sources: link dedupe keeps one copy; the others are twice.
    expect(guids.filter((guid) => GUIDS.includes(guid!))).toHaveLength(4);
    const ids = (JSON.parse(json) as { items: Array<{ id: string }> }).items.map((item) => item.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  // Found by the merge's review: handed out in feed order (newest first), a numbered show's new
  // episode "5" took the guid of the other show's episode "5" an app had already seen, so the app
  // never showed the new one and showed the old one again as new.
  it('go to the older entry when two sources give one: a new episode never takes a guid readers have seen', () => {
    const episode = (sourceId: string, published: string): CachedEntry => ({
      id: '5',
      title: `Episode 5 of ${sourceId}`,
      link: `https://${sourceId}.example/5`,
      published,
      authors: [],
      categories: [],
      enclosures: [],
      sourceId,
      firstSeenAt: published,
    });
    const entries = mergeEntries({
      sources: [
        { sourceId: 'seen', entries: [episode('seen', '2024-04-01T00:00:00Z')] },
        { sourceId: 'new', entries: [episode('new', '2024-04-05T00:00:00Z')] },
      ],
      limit: 10,
    });
    const rendered = renderFeeds(['rss', 'json'], {
      id: 'urn:feedproxy:feed:n',
      title: 'N',
      alternateUrls: URLS,
      updated: new Date('2024-04-06T00:00:00Z'),
      generator: 'feedproxy test',
      entries,
    });
    // The RSS items come in the JSON items' order (newest first).
    const guids = [...rendered.rss!.body.matchAll(/<guid [^>]*>([^<]*)<\/guid>/g)].map((match) => match[1]!);
    expect(guids[0]).toMatch(/^urn:uuid:/);
    expect(guids[1]).toBe('5');
    const items = (JSON.parse(rendered.json!.body) as { items: Array<{ id: string; title: string }> }).items;
    expect(items.map((item) => [item.title, item.id.startsWith('urn:uuid:') ? 'derived' : item.id])).toEqual([
      ['Episode 5 of new', 'derived'],
      ['Episode 5 of seen', '5'],
    ]);
  });

  it.skipIf(!hasFeedparser)('read back by Universal Feed Parser as the original gives them (needs python3-feedparser)', async () => {
    const { rss } = render(['src']);
    expect(await feedparserIds(rss, 'ours.rss')).toEqual(await feedparserIds(readFileSync(FIXTURE, 'utf8'), 'original.rss'));
  });
});
