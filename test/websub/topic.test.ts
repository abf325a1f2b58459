// Which topic URLs the hub accepts: our own public feed URLs only, under the public URL's path.
import { describe, expect, it } from 'vitest';
import { parseTopic } from '../../src/websub/topic.js';

const TOKEN = 'AbCdEfGhIjKlMnOpQr_-12';

describe('parseTopic', () => {
  it.each([
    ['https://feeds.example.org', `https://feeds.example.org/${TOKEN}.atom`, { token: TOKEN, format: 'atom' }],
    ['https://feeds.example.org', `https://FEEDS.example.org:443/${TOKEN}.json`, { token: TOKEN, format: 'json' }],
    ['https://example.org/feeds', `https://example.org/feeds/${TOKEN}.rss`, { token: TOKEN, format: 'rss' }],
    ['https://example.org/feeds', `https://example.org/${TOKEN}.rss`, undefined],
    ['https://feeds.example.org', `http://feeds.example.org/${TOKEN}.atom`, undefined],
    ['https://feeds.example.org', `https://evil.example/${TOKEN}.atom`, undefined],
    ['https://feeds.example.org', `https://feeds.example.org/${TOKEN}.atom?x=1`, undefined],
    ['https://feeds.example.org', `https://feeds.example.org/${TOKEN}.atom#top`, undefined],
    // Credentials are not part of the origin, and the topic is echoed back as given (a `>` in them
    // would end the self link of every delivery's Link header).
    ['https://feeds.example.org', `https://reader:pw@feeds.example.org/${TOKEN}.atom`, undefined],
    ['https://feeds.example.org', `https://x>;rel=y@feeds.example.org/${TOKEN}.atom`, undefined],
    ['https://feeds.example.org', `https://feeds.example.org/f/${TOKEN}`, undefined],
    ['https://feeds.example.org', `https://feeds.example.org/${TOKEN}.xml`, undefined],
    ['https://feeds.example.org', 'https://feeds.example.org/short.atom', undefined],
    ['https://feeds.example.org', 'not a url', undefined],
  ])('with public URL %s, %s → %j', (publicUrl, topic, expected) => {
    expect(parseTopic(publicUrl, topic)).toEqual(expected);
  });
});
