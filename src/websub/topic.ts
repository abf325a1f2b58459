// Which URLs this hub serves: our own public feed URLs, `${publicUrl}/<token>.atom|rss|json`.
import type { RenderedFormat } from '../store/registry.js';

const FILE = /^([A-Za-z0-9_-]{16,64})\.(atom|rss|json)$/;

export interface TopicRef {
  token: string;
  format: RenderedFormat;
}

/** The token and format a topic URL names, or undefined when it is not one of our feed URLs. */
export function parseTopic(publicUrl: string, topic: string): TopicRef | undefined {
  const url = URL.parse(topic);
  const base = URL.parse(`${publicUrl}/`);
  if (!url || !base || url.origin !== base.origin || url.search !== '' || url.hash !== '') return undefined;
  if (!url.pathname.startsWith(base.pathname)) return undefined;
  const match = FILE.exec(url.pathname.slice(base.pathname.length));
  if (!match) return undefined;
  return { token: match[1]!, format: match[2] as RenderedFormat };
}
