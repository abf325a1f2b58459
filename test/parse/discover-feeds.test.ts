import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { discoverFeedLinks, isHtmlDocument } from '../../src/parse/index.js';

const FIXTURES = new URL('../fixtures/feeds/', import.meta.url);
const readFixture = (name: string): Buffer => readFileSync(new URL(name, FIXTURES));

describe('discoverFeedLinks', () => {
  it('finds alternate feed links: resolved against <base>, http(s) only, deduplicated, Atom then RSS then JSON', () => {
    const html = readFixture('page-with-alternate.html').toString('utf8');
    expect(discoverFeedLinks(html, 'https://gazette.example.com/')).toEqual([
      { url: 'https://gazette.example.com/news/atom.xml', type: 'application/atom+xml', title: 'Gazette (Atom)' },
      { url: 'https://gazette.example.com/news/feed.rss', type: 'application/rss+xml', title: 'Gazette & Friends (RSS)' },
      { url: 'https://comments.example.com/rss', type: 'application/rss+xml', title: 'Comments' },
      { url: 'https://gazette.example.com/feed.json', type: 'application/feed+json', title: 'Gazette JSON Feed' },
      { url: 'https://gazette.example.com/feeds/legacy.json', type: 'application/json', title: 'JSON (legacy)' },
    ]);
  });

  it.each([
    ['no links at all', '<html><head><title>x</title></head><body>hi</body></html>', 'https://a.example/', []],
    [
      'relative link without <base>',
      '<link rel="alternate" type="application/rss+xml" href="feed.xml">',
      'https://a.example/blog/post',
      [{ url: 'https://a.example/blog/feed.xml', type: 'application/rss+xml' }],
    ],
    [
      'unquoted attributes and upper case',
      '<LINK REL=ALTERNATE TYPE=APPLICATION/ATOM+XML HREF=/atom>',
      'https://a.example/',
      [{ url: 'https://a.example/atom', type: 'application/atom+xml' }],
    ],
    ['a javascript: href', '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">', 'https://a.example/', []],
    ['a feed type on a non-alternate link', '<link rel="feed" type="application/rss+xml" href="/x">', 'https://a.example/', []],
    [
      'links after the head are ignored',
      '<head></head><body><link rel="alternate" type="application/rss+xml" href="/late"></body>',
      'https://a.example/',
      [],
    ],
  ])('%s', (_label, html, baseUrl, expected) => {
    expect(discoverFeedLinks(html, baseUrl)).toEqual(expected);
  });

  it('stops early on absurd nesting instead of crawling it', () => {
    const html = `<html><head>${'<b>'.repeat(200_000)}<link rel="alternate" type="application/rss+xml" href="/x">`;
    expect(discoverFeedLinks(html, 'https://a.example/')).toEqual([]);
  });

  // <svg> and <math> end the head as <body> does (HTML's "in head" insertion mode), and in them
  // htmlparser2 kept a context entry for every element, `<svg/>` too, that it never dropped: a 1 MB
  // page of them took 4.6 s to read, quadratic in its size (found by this session's security probe).
  it.each(['svg', 'math'])('reads the head up to its first <%s>, which ends it: a link after one is not the head’s', (name) => {
    const link = '<link rel="alternate" type="application/rss+xml" href="/feed">';
    expect(discoverFeedLinks(`<html><head>${link}<${name}>${`<${name}/>`.repeat(100_000)}`, 'https://a.example/')).toEqual([
      { url: 'https://a.example/feed', type: 'application/rss+xml' },
    ]);
    expect(discoverFeedLinks(`<html><head><${name}>${`<${name}/>`.repeat(100_000)}</${name}>${link}`, 'https://a.example/')).toEqual([]);
  });
});

describe('isHtmlDocument', () => {
  it.each([
    ['page-with-alternate.html', 'text/html; charset=utf-8', true],
    ['not-a-feed.html', undefined, true],
    ['podcast.rss', 'text/html', false],
    ['netflix-queue.atom', 'text/html', false],
    ['rdf.rdf', 'text/xml', false],
    ['rss-0.91.xml', 'text/html', false],
    ['jsonfeed-1.1.json', 'text/html', false],
    ['latin1.rss', undefined, false],
  ])('%s (Content-Type %s) → %s', (file, contentType, expected) => {
    expect(isHtmlDocument(readFixture(file), contentType)).toBe(expected);
  });

  it.each([
    ['<!-- comment --><html><body>x</body></html>', undefined, true],
    ['\ufeff  <!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN"><p>x', undefined, true],
    ['<p>fragment</p>', 'text/html', true],
    ['<p>fragment</p>', 'text/plain', false],
    ['<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>', 'text/html', false],
    ['', 'text/html', true],
  ])('%j (Content-Type %s) → %s', (body, contentType, expected) => {
    expect(isHtmlDocument(body, contentType)).toBe(expected);
  });
});
