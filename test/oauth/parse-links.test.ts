import { describe, expect, it } from 'vitest';
import { parseFeedLinks } from '../../src/oauth/parse-links.js';

const BASE = 'http://api.example/users/T1/feeds';

// The shape of Netflix's `/users/{user_id}/feeds` answer: bare `<link>` elements in a wrapper.
const NETFLIX = `<?xml version="1.0" standalone="yes"?>
<resource>
  <link href="http://rss.example/users/T1/feeds/queues/disc?feed_token=T1a&amp;oauth_consumer_key=k5" rel="http://schemas.netflix.com/feed.queues.disc" title="Disc Queue"/>
  <link href="/feeds/at_home?feed_token=T1a" rel="http://schemas.netflix.com/feed.at_home" title="Titles at Home"></link>
  <group>
    <link href="http://rss.example/recs?feed_token=T1a" rel="http://schemas.netflix.com/feed.recommendations" title="Recs &amp; more"/>
  </group>
  <link href="http://rss.example/users/T1/feeds/queues/disc?feed_token=T1a&amp;oauth_consumer_key=k5" rel="dup" title="Duplicate"/>
  <link rel="no-href" title="skipped"/>
  <link href="javascript:alert(1)" rel="x" title="not http"/>
</resource>`;

const ATOM = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Your feeds</title>
  <link rel="self" href="http://api.example/users/T1/feeds"/>
  <entry>
    <title>Disc Queue</title>
    <id>urn:1</id>
    <link rel="alternate" href="http://rss.example/queue?feed_token=a"/>
    <category term="http://schemas.netflix.com/feed.queues.disc"/>
  </entry>
  <entry>
    <title type="text">Shipped</title>
    <id>urn:2</id>
    <link rel="http://schemas.example/feed.shipped" href="/shipped?feed_token=b"/>
  </entry>
</feed>`;

const RSS = `<?xml version="1.0"?>
<rss version="2.0"><channel><title>Feeds</title><link>http://api.example/</link>
  <item><title>Disc Queue</title><link>http://rss.example/queue?feed_token=a</link><category>queue</category></item>
  <item><title>No link</title></item>
</channel></rss>`;

describe('parseFeedLinks', () => {
  it('reads Netflix <link href rel title> lists under any wrapper, resolved and de-duplicated', () => {
    expect(parseFeedLinks(NETFLIX, BASE)).toEqual([
      {
        url: 'http://rss.example/users/T1/feeds/queues/disc?feed_token=T1a&oauth_consumer_key=k5',
        rel: 'http://schemas.netflix.com/feed.queues.disc',
        title: 'Disc Queue',
      },
      { url: 'http://api.example/feeds/at_home?feed_token=T1a', rel: 'http://schemas.netflix.com/feed.at_home', title: 'Titles at Home' },
      { url: 'http://rss.example/recs?feed_token=T1a', rel: 'http://schemas.netflix.com/feed.recommendations', title: 'Recs & more' },
    ]);
  });

  it('reads an Atom feed whose entries are the feeds', () => {
    expect(parseFeedLinks(ATOM, BASE)).toEqual([
      { url: 'http://rss.example/queue?feed_token=a', rel: 'http://schemas.netflix.com/feed.queues.disc', title: 'Disc Queue' },
      { url: 'http://api.example/shipped?feed_token=b', rel: 'http://schemas.example/feed.shipped', title: 'Shipped' },
    ]);
  });

  it('reads an RSS channel whose items are the feeds', () => {
    expect(parseFeedLinks(RSS, BASE)).toEqual([{ url: 'http://rss.example/queue?feed_token=a', rel: 'queue', title: 'Disc Queue' }]);
  });

  it.each([
    ['a JSON list', '[{"title":"A","rel":"r","url":"http://x/a"},{"title":"B","href":"/b"}]'],
    ['a JSON object with feeds', '{"feeds":[{"title":"A","rel":"r","url":"http://x/a"},{"title":"B","href":"/b"},"junk"]}'],
  ])('reads %s', (_name, body) => {
    expect(parseFeedLinks(body, BASE)).toEqual([
      { url: 'http://x/a', rel: 'r', title: 'A' },
      { url: 'http://api.example/b', rel: '', title: 'B' },
    ]);
  });

  it.each([
    ['HTML soup', '<html><body><p>Oops</b></body>'],
    ['plain text', 'Service Unavailable'],
    ['broken JSON', '{"feeds": ['],
    ['JSON without a list', '{"items": []}'],
  ])('refuses %s with a coded error', (_name, body) => {
    expect(() => parseFeedLinks(body, BASE)).toThrowError(expect.objectContaining({ code: 'FP_OAUTH' }));
  });
});
