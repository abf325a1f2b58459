// The only import of `feed`, and what its writer (xml-js inside it) needs from us. `feed` escapes
// less than XML needs:
//  - attribute values only get `"` escaped, and only some URLs get `&` escaped → every value that
//    ends up in an attribute is a normalised URL or goes through xmlAttribute;
//  - element text has `&amp;` unescaped before escaping (to "avoid double escaping") → literal
//    `&amp;` in plain text is protected by xmlText;
//  - CDATA sections only split the first `]]>` → the later ones are split by cdataText;
//  - its own xml-stylesheet instruction leaves the href unescaped → withStylesheet writes it.
// The Atom writer (formats/atom.ts) also writes each entry's links itself; see there.
import { Feed, type FeedOptions, type Item } from 'feed';
import { escapeXml } from '../text.js';

export type { Author, Extension, FeedOptions, Item } from 'feed';

/** For element text xml-js writes itself: it turns `&amp;` back into `&` before escaping. */
export function xmlText(text: string): string {
  return text.replace(/&amp;/g, '&amp;amp;');
}

/** For attribute values xml-js writes as given (it only escapes `"`). */
export function xmlAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

/**
 * For CDATA content: xml-js splits the first `]]>` itself; every later one is split here, the same
 * way, so the section round-trips to exactly the text given.
 */
export function cdataText(text: string): string {
  const first = text.indexOf(']]>');
  if (first < 0) return text;
  return text.slice(0, first + 3) + text.slice(first + 3).replace(/\]\]>/g, ']]]]><![CDATA[>');
}

/**
 * The xml-stylesheet instruction (W3C "Associating Style Sheets with XML documents" §2), right
 * after the XML declaration. Its pseudo-attributes take the predefined entities; a normalised URL
 * holds no `?>` (the URL serialiser percent-encodes `>`), so the instruction cannot end early.
 */
export function withStylesheet(xml: string, stylesheetUrl: string | undefined): string {
  if (stylesheetUrl === undefined) return xml;
  const declarationEnd = xml.startsWith('<?xml ') ? xml.indexOf('?>') + 2 : 0;
  const instruction = `<?xml-stylesheet type="text/xsl" href="${escapeXml(stylesheetUrl)}"?>`;
  return `${xml.slice(0, declarationEnd)}\n${instruction}${xml.slice(declarationEnd)}`;
}

/** A `feed` document with the given items, ready for `.atom1()` or `.rss2()`. */
export function newFeed(options: FeedOptions, items: Item[]): Feed {
  const feed = new Feed(options);
  for (const item of items) feed.addItem(item);
  return feed;
}
