// The feed page and the Atom stylesheet show the date the merged feed is sorted by (merge.ts
// entryDate: updated, else published), so a list sorted by updated reads as sorted (issue 17). An
// RSS item has only its publication date (pubDate): the stylesheet lists RSS items by that date.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RenderEntry } from '../../src/render/render-feed.js';
import { renderFeed } from '../../src/render/render-feed.js';
import { renderFeedPage } from '../../src/render/feed-page.js';
import { FEED_XSL } from '../../src/routes/browser-view/feed-xsl.js';
import { findOnPath } from '../interop/tools.js';
import { FEED_URLS, fixtureInput } from './fixture.js';

const xsltproc = findOnPath('xsltproc');
const base = { authors: [], categories: [], enclosures: [], sourceId: 'src-a' };
/** In merge order: the first was published long ago but updated last, so it sorts first. */
const ENTRIES: RenderEntry[] = [
  {
    ...base,
    id: 'tag:a',
    title: 'Revised',
    link: 'https://example.org/a',
    published: '2024-01-01T10:00:00Z',
    updated: '2024-03-10T10:00:00Z',
    firstSeenAt: '2024-01-01T10:00:00Z',
  },
  {
    ...base,
    id: 'tag:b',
    title: 'New',
    link: 'https://example.org/b',
    published: '2024-03-05T10:00:00Z',
    firstSeenAt: '2024-03-05T10:00:00Z',
  },
];
const datesIn = (html: string) => [...html.matchAll(/>(\d{4}-\d{2}-\d{2})</g)].map((match) => match[1]);

describe('the dates a feed page shows', () => {
  it('are the dates the entries are sorted by, on the /f/<token> page', () => {
    const json = renderFeed('json', fixtureInput('json', ENTRIES)).body;
    const html = renderFeedPage(json, { feeds: FEED_URLS, styleHref: 'feed.css' });
    expect(datesIn(html)).toEqual(['2024-03-10', '2024-03-05']);
  });

  it.skipIf(!xsltproc)('are the dates the entries are sorted by, in the Atom feed through the stylesheet (xsltproc)', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'feedproxy-feed-dates-'));
    try {
      writeFileSync(join(scratch, 'feed.xsl'), FEED_XSL);
      writeFileSync(join(scratch, 'feed.atom'), renderFeed('atom', fixtureInput('atom', ENTRIES)).body);
      const html = execFileSync(xsltproc!, ['--nonet', '--nowrite', join(scratch, 'feed.xsl'), join(scratch, 'feed.atom')], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(datesIn(html)).toEqual(['2024-03-10', '2024-03-05']);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it.skipIf(!xsltproc)('agree with the order of the RSS page through the stylesheet, which has only pubDate (xsltproc)', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'feedproxy-feed-dates-'));
    try {
      const rss = renderFeed('rss', fixtureInput('rss', ENTRIES)).body;
      // The feed lists by update; its one date per item is the publication: out of order as listed.
      expect([...rss.matchAll(/<pubDate>([^<]+)</g)].map((match) => new Date(match[1]!).toISOString().slice(0, 10))).toEqual([
        '2024-01-01',
        '2024-03-05',
      ]);
      writeFileSync(join(scratch, 'feed.xsl'), FEED_XSL);
      writeFileSync(join(scratch, 'feed.rss'), rss);
      const html = execFileSync(xsltproc!, ['--nonet', '--nowrite', join(scratch, 'feed.xsl'), join(scratch, 'feed.rss')], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      // The page lists by the date it shows, newest first, with each title beside its own date.
      expect(datesIn(html)).toEqual(['2024-03-05', '2024-01-01']);
      expect(html.indexOf('>New<')).toBeLessThan(html.indexOf('>Revised<'));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
