// Which URLs this hub serves: our own public feed URLs, `${publicUrl}/<token>.atom|rss|json`.
import { parseFeedFile } from '../publish/public-paths.js';
import type { RenderedFormat } from '../model.js';

export interface TopicRef {
  token: string;
  format: RenderedFormat;
}

/** The token and format a topic URL names, or undefined when it is not one of our feed URLs. */
export function parseTopic(publicUrl: string, topic: string): TopicRef | undefined {
  const url = URL.parse(topic);
  const base = URL.parse(`${publicUrl}/`);
  if (!url || !base || url.origin !== base.origin || url.search !== '' || url.hash !== '') return undefined;
  // The origin leaves credentials out, and our feed URLs carry none.
  if (url.username !== '' || url.password !== '') return undefined;
  if (!url.pathname.startsWith(base.pathname)) return undefined;
  return parseFeedFile(url.pathname.slice(base.pathname.length));
}

// Our feed URLs are printable ASCII. A URL parser drops tabs and line breaks, trims spaces and
// control characters and maps a Unicode host to ASCII, so a topic with any of them would name one of
// our feeds while the string we echo back (§5.3) and send as each delivery's self link (§7) is not
// its URL; and a line break, another control character or a full-width letter is refused in a
// header, so every delivery of such a topic would fail.
const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;
// RFC 3986 §2: a URL holds unreserved and reserved characters and percent-encodings, so of printable
// ASCII these must be percent-encoded. A parser encodes them, and a dot-segment then drops the
// segment holding them, so such a topic can still name one of our feeds; but the string kept is each
// delivery's self link (§7), `<topic>`, and a `>` in it would end that link and add links of its own.
// Refused rather than sent as the parsed URL: the topic as given is the subscription's key and is
// echoed back as given (§5.3), and the self link should be that same string.
const UNENCODED_IN_URL = /["<>\\^`{|}]/;

/**
 * Why a topic cannot be a subscription's, by its text alone; undefined when it can. Also asked of
 * stored subscriptions (deliver.ts): one accepted before these rules is dropped, not retried.
 */
export function topicTextRefusal(topic: string): string | undefined {
  if (!PRINTABLE_ASCII.test(topic)) {
    return 'hub.topic must be written in printable ASCII, without spaces, tabs, line breaks or other control characters';
  }
  if (UNENCODED_IN_URL.test(topic)) {
    return 'hub.topic must not hold " < > \\ ^ ` { | } unencoded (RFC 3986): send the feed URL as published here, or percent-encode them';
  }
  return undefined;
}
