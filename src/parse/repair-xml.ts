// Repairs for documents lenient readers (Universal Feed Parser, browsers) still read, applied to
// the text before (or, for tag balancing, after a first failed) parse.
import { escapeText } from '../text.js';
import { localNameOf, type XmlFeedFormat } from './detect-format.js';
/** RSS with its items straight under <rss>, no <channel>: the channel is put back around them. */
export function withChannel(xml: string): string {
  if (/<(?:[\w-]+:)?channel[\s>]/.test(xml)) return xml;
  const open = /<(?:[\w-]+:)?rss(?:\s[^>]*)?>/.exec(xml);
  if (!open) return xml;
  const afterOpen = open.index + open[0].length;
  const close = xml.lastIndexOf('</');
  const end = close > afterOpen && /^<\/(?:[\w-]+:)?rss\s*>/.test(xml.slice(close)) ? close : xml.length;
  return `${xml.slice(0, afterOpen)}<channel>${xml.slice(afterOpen, end)}</channel>${xml.slice(end)}`;
}

// Atom 0.3 mode="base64" (and RFC 4287 content of a non-text type) carries base64: decoded here,
// before parsing, since the parser keeps the text but not the mode.
const BASE64_ELEMENT = /<((?:[\w-]+:)?(?:content|summary|title|tagline|info|subtitle))((?:\s[^>]*?)?)\smode\s*=\s*["']base64["']([^>]*)>([^<]*)<\/\1\s*>/g;

export function withBase64Decoded(xml: string): string {
  if (!/mode\s*=\s*["']base64["']/.test(xml)) return xml;
  return xml.replace(BASE64_ELEMENT, (whole, name: string, before: string, after: string, encoded: string) => {
    const text = decodeBase64Text(encoded);
    return text === undefined ? whole : `<${name}${before}${after}>${escapeText(text)}</${name}>`;
  });
}

/** Base64 that decodes to UTF-8 text, else undefined (binary content is no entry text). */
export function decodeBase64Text(encoded: string): string | undefined {
  const compact = encoded.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
    // eslint-disable-next-line no-control-regex -- control characters mean binary, not text
    return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

const MAX_REPAIR_DEPTH = 256;
const CONTAINERS = new Set(['rss', 'channel', 'feed', 'rdf']);
const ENTRY_ELEMENTS = new Set(['item', 'entry']);
const XML_TOKEN = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<![^>]*>|<\/\s*([\w.:-]+)\s*>|<([\w.:-]+)(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?>/g;

/**
 * Closes what a broken document left open, as a lenient reader does: an element still open when an
 * item or entry starts (an unclosed <itunes:category> would swallow every item after it), or when
 * an ancestor closes; a close tag nothing opened is dropped.
 */
export function balanceTags(xml: string): string {
  const stack: string[] = [];
  let out = '';
  let last = 0;
  for (const match of xml.matchAll(XML_TOKEN)) {
    // Real feeds are a few levels deep; past this the document is not one to repair (and the
    // searches below stay cheap).
    if (stack.length > MAX_REPAIR_DEPTH) return xml;
    const [token, closing, opening] = match;
    let replacement = token;
    if (closing !== undefined) {
      const at = stack.lastIndexOf(closing);
      if (at === -1) replacement = '';
      else replacement = stack.splice(at).reverse().map((name) => `</${name}>`).join('');
    } else if (opening !== undefined && !token.endsWith('/>')) {
      let closed = '';
      if (ENTRY_ELEMENTS.has(localNameOf(opening) ?? '') && stack.some((name) => CONTAINERS.has(localNameOf(name) ?? ''))) {
        while (stack.length > 0 && !CONTAINERS.has(localNameOf(stack.at(-1)) ?? '')) closed += `</${stack.pop()}>`;
      }
      stack.push(opening);
      replacement = closed + token;
    }
    out += xml.slice(last, match.index) + replacement;
    last = match.index + token.length;
  }
  return out + xml.slice(last) + stack.reverse().map((name) => `</${name}>`).join('');
}

/** How many items or entries the document holds, counted by their start tags. */
export function countEntryTags(xml: string, format: XmlFeedFormat): number {
  const pattern = format === 'atom' ? /<(?:[\w-]+:)?entry[\s>]/g : /<(?:[\w-]+:)?item[\s>]/g;
  return xml.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>/g, '').match(pattern)?.length ?? 0;
}
