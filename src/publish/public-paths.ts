// The shape of a public feed URL's last segment, `<token>.atom|.rss|.json`, in one place: the feed
// route, the browser view, the WebSub hub's topics and the CORS preflight all recognise it.
import { FEED_FORMATS, type RenderedFormat } from '../model.js';

/** Public tokens are base64url (vault/seal.ts randomToken): 16 to 64 characters. */
const TOKEN_SOURCE = '[A-Za-z0-9_-]{16,64}';
const FORMAT_SOURCE = FEED_FORMATS.join('|');

export const PUBLIC_TOKEN = new RegExp(`^${TOKEN_SOURCE}$`);
/** A request path of a public feed, with or without a query: for hooks that run before routing. */
export const PUBLIC_FEED_PATH = new RegExp(`^/${TOKEN_SOURCE}\\.(?:${FORMAT_SOURCE})(?:\\?|$)`);
const PUBLIC_FEED_FILE = new RegExp(`^(${TOKEN_SOURCE})\\.(${FORMAT_SOURCE})$`);

/** The token and format of `<token>.<format>`, or undefined when the segment is not a feed file. */
export function parseFeedFile(file: string): { token: string; format: RenderedFormat } | undefined {
  const match = PUBLIC_FEED_FILE.exec(file);
  return match ? { token: match[1]!, format: match[2] as RenderedFormat } : undefined;
}
