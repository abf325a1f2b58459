// Podcast text fields written into RSS follow the title's and the names' rules (render/formats/rss.ts
// rssText, rssName): text that spells a tag reaches a reader that renders it as HTML as text. The
// merge's review found them XML-escaped only: `<itunes:subtitle>&lt;script&gt;</itunes:subtitle>`
// is `<script>` to such a reader.
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { renderFeeds } from '../../src/render/render-feed.js';

const TAG = '<img src=x onerror=alert(1)>';

describe('podcast text in RSS', () => {
  it('never spells a tag, however a reader takes it', () => {
    const entry: CachedEntry = {
      id: 'ep-1',
      title: 'Episode 1',
      published: '2024-04-01T00:00:00Z',
      authors: [],
      categories: [],
      enclosures: [{ url: 'https://cdn.example/1.mp3', type: 'audio/mpeg', length: 1 }],
      podcast: { title: TAG, subtitle: TAG, soundbites: [{ start: 1, duration: 2, title: TAG }], persons: [{ name: TAG }] },
      sourceId: 's',
      firstSeenAt: '2024-04-01T00:00:00Z',
    };
    const rss = renderFeeds(['rss'], {
      id: 'urn:feedproxy:feed:p',
      title: 'P',
      alternateUrls: { atom: 'https://proxy.example/p.atom', rss: 'https://proxy.example/p.rss', json: 'https://proxy.example/p.json' },
      updated: new Date('2024-04-02T00:00:00Z'),
      generator: 'feedproxy test',
      podcast: { author: TAG, owner: { name: TAG, email: 'owner@example.com' }, funding: [{ url: 'https://fund.example/', title: TAG }] },
      entries: [entry],
    }).rss!.body;
    const texts: string[] = [];
    const collect = (node: unknown, name: string): void => {
      if (typeof node === 'string') {
        if (/^(itunes:|podcast:)/.test(name)) texts.push(node);
      } else if (Array.isArray(node)) for (const item of node) collect(item, name);
      else if (node !== null && typeof node === 'object')
        for (const [key, value] of Object.entries(node)) collect(value, key === '#text' ? name : key);
    };
    collect(new XMLParser({ ignoreAttributes: false, processEntities: true, htmlEntities: false }).parse(rss), '');
    // Positive control: every field was written (its text as a reader reads the XML).
    expect(texts.filter((text) => text.includes('img src=x'))).toHaveLength(7);
    for (const text of texts) expect(text, text).not.toMatch(/<[a-z!/?]/i);
  });
});
