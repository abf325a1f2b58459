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
