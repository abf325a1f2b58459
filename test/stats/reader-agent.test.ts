// Subscriber counts from the User-Agent strings hosted readers really send.
import { describe, expect, it } from 'vitest';
import { parseReaderAgent } from '../../src/stats/reader-agent.js';

describe('parseReaderAgent', () => {
  it.each([
    [
      'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; feed-id=1234)',
      { reader: 'Feedly', subscribers: 16, readerFeedId: '1234' },
    ],
    ['Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)', undefined],
    [
      'Mozilla/5.0 (compatible; Inoreader; +http://www.inoreader.com/feed-fetcher; 4 subscribers; )',
      { reader: 'Inoreader', subscribers: 4 },
    ],
    [
      'NewsBlur Feed Fetcher - 12 subscribers - http://www.newsblur.com/site/123/example (Mozilla/5.0 (Macintosh))',
      { reader: 'NewsBlur', subscribers: 12 },
    ],
    ['Feedbin feed-id:1373711 - 142 subscribers', { reader: 'Feedbin', subscribers: 142, readerFeedId: '1373711' }],
    ['Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 3 subscribers)', { reader: 'BazQux', subscribers: 3 }],
    ['theoldreader.com (1 subscribers; feed-id=58e3c9a2)', { reader: 'theoldreader.com', subscribers: 1, readerFeedId: '58e3c9a2' }],
    [
      'Mozilla/5.0 (compatible; Feedspot/1.0 (+https://www.feedspot.com/fs/fetcher; like FeedFetcher-Google); 1 readers)',
      { reader: 'Feedspot', subscribers: 1 },
    ],
    ['NetNewsWire (RSS Reader; https://netnewswire.com/)', undefined],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36', undefined],
    [undefined, undefined],
    [`Feedly/1.0 (${'x'.repeat(600)}; 5 subscribers)`, undefined],
    // Issue 18: anyone with the URL can claim an audience; an absurd one is not recorded at all.
    ['Feedly/1.0 (+http://www.feedly.com/fetcher.html; 999999999 subscribers; feed-id=1)', undefined],
    ['Feedly/1.0 (+http://www.feedly.com/fetcher.html; 100001 subscribers)', undefined],
    ['Feedly/1.0 (+http://www.feedly.com/fetcher.html; 100000 subscribers)', { reader: 'Feedly', subscribers: 100_000 }],
  ])('%s', (userAgent, expected) => {
    expect(parseReaderAgent(userAgent)).toEqual(expected);
  });
});
