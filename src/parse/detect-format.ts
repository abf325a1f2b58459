// Which feed format a document is, from its first bytes: JSON Feed, or the root element of an XML
// document (after any junk a broken server printed first, and an Atom feed wrapped in XHTML).
import { detectJsonFeed } from 'feedsmith';
import { NotAFeedError } from '../errors.js';
import type { FeedFormat } from '../model.js';

/** The XML formats; JSON Feed is read from a parsed value instead. */
export type XmlFeedFormat = Exclude<FeedFormat, 'json'>;

export type DocumentKind = { kind: 'json'; value: unknown } | { kind: 'xml'; format: XmlFeedFormat; xml: string };

// Where a feed may start after junk a broken server printed first (a PHP warning, a stray newline
// in an include); looked for only near the start.
const FEED_START = /<\?xml\s|<(?:[\w-]+:)?(?:rss|feed|rdf)[\s>]/i;
const JUNK_SCAN_LENGTH = 4096;

interface Prolog {
  root?: string;
  declaresEntities: boolean;
}

/** End index (exclusive) of the DOCTYPE starting at `start`, and whether it declares entities. */
function scanDoctype(text: string, start: number): { end: number; declaresEntities: boolean } {
  let quote: string | undefined;
  let subsetStart = -1;
  let inSubset = false;
  for (let i = start + 9; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '<' && text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close === -1) break;
      i = close + 2;
    } else if (c === '[' && subsetStart === -1) {
      subsetStart = i;
      inSubset = true;
    } else if (c === ']' && inSubset) {
      inSubset = false;
    } else if (c === '>' && !inSubset) {
      const subset = subsetStart === -1 ? '' : text.slice(subsetStart, i);
      return { end: i + 1, declaresEntities: /<!ENTITY/i.test(subset) };
    }
  }
  // Unterminated: judge by what there is; the XML parser will refuse the rest.
  return { end: text.length, declaresEntities: /<!ENTITY/i.test(text.slice(start)) };
}

/** Walks the XML prolog (declaration, comments, PIs, DOCTYPE) to the root element's name. */
function scanProlog(text: string): Prolog {
  let declaresEntities = false;
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith('<?', i)) {
      const close = text.indexOf('?>', i + 2);
      if (close === -1) break;
      i = close + 2;
    } else if (text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close === -1) break;
      i = close + 3;
    } else if (text.slice(i, i + 9).toUpperCase() === '<!DOCTYPE') {
      const doctype = scanDoctype(text, i);
      declaresEntities ||= doctype.declaresEntities;
      i = doctype.end;
    } else {
      const root = text.slice(i, i + 128).match(/^<([A-Za-z_][\w.:-]*)/)?.[1];
      return root === undefined ? { declaresEntities } : { root, declaresEntities };
    }
  }
  return { declaresEntities };
}

export function localNameOf(name: string | undefined): string | undefined {
  return name?.slice(name.indexOf(':') + 1).toLowerCase();
}

function isFeedRoot(name: string | undefined): boolean {
  const localName = localNameOf(name);
  return localName === 'rss' || localName === 'feed' || localName === 'rdf';
}

export function classifyDocument(text: string): DocumentKind {
  const start = text.trimStart();
  if (start === '') throw new NotAFeedError('the document is empty');
  if (start.startsWith('{') || start.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(start);
    } catch {
      throw new NotAFeedError('invalid JSON');
    }
    if (!detectJsonFeed(value)) throw new NotAFeedError('JSON document is not a JSON Feed');
    return { kind: 'json', value };
  }
  let xml = start;
  let prolog = scanProlog(xml);
  if (!prolog.declaresEntities && !isFeedRoot(prolog.root) && localNameOf(prolog.root) !== 'html') {
    const feedStart = xml.slice(0, JUNK_SCAN_LENGTH).search(FEED_START);
    if (feedStart > 0) {
      xml = xml.slice(feedStart);
      prolog = scanProlog(xml);
    }
  }
  if (!xml.startsWith('<')) throw new NotAFeedError('neither XML nor JSON');
  // Entity declarations are how billion-laughs and XXE documents work; no real feed needs them.
  if (prolog.declaresEntities) throw new NotAFeedError('the document type declares entities');
  const root = prolog.root?.toLowerCase();
  const localName = localNameOf(root);
  if (localName === 'rss') return { kind: 'xml', format: 'rss', xml };
  if (localName === 'feed') return { kind: 'xml', format: 'atom', xml };
  if (localName === 'rdf') return { kind: 'xml', format: 'rdf', xml };
  if (localName === 'html') {
    // An Atom feed a server wrapped in an XHTML page: lenient readers find the <feed> and read it.
    const embedded = embeddedAtomFeed(xml);
    if (embedded !== undefined) return { kind: 'xml', format: 'atom', xml: embedded };
    throw new NotAFeedError('an HTML page');
  }
  if (root === undefined) throw new NotAFeedError('no root element');
  throw new NotAFeedError(`unexpected root element <${root.slice(0, 40)}>`);
}

const EMBEDDED_ATOM =
  /<(?:([\w-]+):)?feed\s[^<>]*xmlns(?::[\w-]+)?\s*=\s*["']http:\/\/(?:www\.w3\.org\/2005\/Atom|purl\.org\/atom\/ns#)["']/;

/** The Atom <feed> element inside an (X)HTML document, as a document of its own, or undefined. */
function embeddedAtomFeed(xml: string): string | undefined {
  const start = EMBEDDED_ATOM.exec(xml);
  if (!start) return undefined;
  const closeTag = `</${start[1] === undefined ? '' : `${start[1]}:`}feed>`;
  const end = xml.lastIndexOf(closeTag);
  return end < start.index ? undefined : xml.slice(start.index, end + closeTag.length);
}
