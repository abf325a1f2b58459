// Repairs for documents lenient readers (Universal Feed Parser, browsers) still read, applied to
// the text before (or, for tag balancing, after a first failed) parse.
import { decodeCommonEntities, escapeText, plainTextOf } from '../text.js';
import { localNameOf, type XmlFeedFormat } from './detect-format.js';
import { MAX_PERSON_LENGTH } from './normalise.js';
import { countStartTagsOutsideComments, replaceCdataSections, xmlTokens } from './scan-xml.js';
/** A document cut off in its last close tag (`</rss` with no `>`): the tag is finished. */
export function withLastTagClosed(xml: string): string {
  const cut = /<\/([A-Za-z_][\w.:-]*)\s*$/.exec(xml.slice(-256));
  return cut === null ? xml : `${xml.trimEnd()}>`;
}

// The namespaces RSS 2.0 was once given (UserLand's, then Harvard's); RSS itself has none. Read
// within one start tag (`[^<>]`): each try stops at the next tag, so many `<x:rss ` stay linear.
const RSS_PREFIXED_ROOT =
  /<([A-Za-z_][\w.-]*):rss\b[^<>]*?\sxmlns:\1\s*=\s*["'](?:http:\/\/backend\.userland\.com\/rss2|http:\/\/blogs\.law\.harvard\.edu\/tech\/rss)["']/;

/**
 * RSS 2.0 written in a prefixed namespace (`<r:rss xmlns:r="http://backend.userland.com/rss2">`,
 * `<r:item>`): the prefix is dropped, so its elements read as the RSS they are.
 */
export function withRssPrefixDropped(xml: string): string {
  // The pattern needs `:rss`: most documents are passed over by one substring search.
  if (!xml.includes(':rss')) return xml;
  const prefix = RSS_PREFIXED_ROOT.exec(xml)?.[1];
  if (prefix === undefined) return xml;
  return xml.replace(new RegExp(`<(/?)${prefix.replace(/\./g, '\\.')}:`, 'g'), '<$1');
}

// A comment never spans its own `-->`, nor an instruction its `?>`: each tail has one reading. With
// lazy `[^]*?` one could span several, and a tail that fails to match (`<?a?>` × 30 then text) was
// tried every way: exponential, seconds of event loop from a few hundred bytes of a hostile upstream.
const WHOLE_DOCUMENT_END = /<\/(?:[\w-]+:)?(?:rss|feed|RDF)\s*>(?:\s|<!--(?:(?!-->)[^])*-->|<\?(?:(?!\?>)[^])*\?>)*$/;

/**
 * Whether the document stops before its root's close tag: a transfer cut off mid-way (refused, not
 * repaired). Comments and processing instructions after the root (a cache plugin's
 * `<!-- generated in 0.1s -->`) are still a whole document.
 */
export function isCutOff(xml: string): boolean {
  return !WHOLE_DOCUMENT_END.test(xml.slice(-4096));
}

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
// before parsing, since the parser keeps the text but not the mode. Found in steps, each reading a
// stretch once: one pattern with the mode between two runs of attributes took time cubic in a tag
// of many ` mode="base64"` (20 KB held the event loop 3 s).
const BASE64_CANDIDATE = /<((?:[\w-]+:)?(?:content|summary|title|tagline|info|subtitle))(\s[^<>]*)?>/g;
const BASE64_MODE = /\smode\s*=\s*["']base64["']/;

export function withBase64Decoded(xml: string): string {
  if (!/mode\s*=\s*["']base64["']/.test(xml)) return xml;
  let out = '';
  let copied = 0;
  for (const open of xml.matchAll(BASE64_CANDIDATE)) {
    const [tag, name, attributes = ''] = open as unknown as [string, string, string | undefined];
    const mode = BASE64_MODE.exec(attributes);
    if (mode === null) continue;
    // The content is text up to the next tag, and that tag must close this element.
    const bodyStart = open.index + tag.length;
    const bodyEnd = xml.indexOf('<', bodyStart);
    if (bodyEnd === -1) break;
    const close = new RegExp(`</${name}\\s*>`, 'y');
    close.lastIndex = bodyEnd;
    if (!close.test(xml)) continue;
    const text = decodeBase64Text(xml.slice(bodyStart, bodyEnd));
    if (text === undefined) continue;
    const kept = attributes.slice(0, mode.index) + attributes.slice(mode.index + mode[0].length);
    out += `${xml.slice(copied, open.index)}<${name}${kept}>${escapeText(text)}</${name}>`;
    copied = close.lastIndex;
  }
  return copied === 0 ? xml : out + xml.slice(copied);
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

// An Atom text construct (RFC 4287 §3.1) of type text, or none, that holds child elements: markup
// written without escaping it (`<title>Example <b>Atom</b></title>`), which readers render as HTML.
const TEXT_CONSTRUCT_NAME = '(?:[\\w-]+:)?(?:title|summary|subtitle|tagline|rights|info|copyright)';
const TEXT_CONSTRUCT_OPEN = new RegExp(`<(${TEXT_CONSTRUCT_NAME})(\\s[^<>]*)?>`, 'g');
const TEXT_CONSTRUCT_CLOSE = new RegExp(`</(${TEXT_CONSTRUCT_NAME})\\s*>`, 'g');
const TEXT_TYPE = /\stype\s*=\s*["'](?:text|text\/plain)["']/i;

/**
 * Atom text constructs holding naked child elements are typed html, so their markup is read as
 * markup rather than shown as text. Linear: every close tag is found once, and constructs never
 * overlap (an unclosed one ends at the next close of its name).
 */
export function withNakedMarkupAsHtml(xml: string): string {
  const closes = new Map<string, number[]>();
  for (const match of xml.matchAll(TEXT_CONSTRUCT_CLOSE)) {
    const list = closes.get(match[1]!) ?? [];
    list.push(match.index);
    closes.set(match[1]!, list);
  }
  if (closes.size === 0) return xml;
  const next = new Map<string, number>();
  let out = '';
  let copied = 0;
  let skipped = 0;
  for (const open of xml.matchAll(TEXT_CONSTRUCT_OPEN)) {
    if (open.index < copied || open.index < skipped) continue;
    const [tag, name, attributes = ''] = open as unknown as [string, string, string | undefined];
    const bodyStart = open.index + tag.length;
    const list = closes.get(name) ?? [];
    let position = next.get(name) ?? 0;
    while (position < list.length && list[position]! < bodyStart) position += 1;
    next.set(name, position);
    if (tag.endsWith('/>') || position >= list.length) continue;
    if (/\s(?:type|mode)\s*=/i.test(attributes) && !TEXT_TYPE.test(attributes)) continue;
    const body = xml.slice(bodyStart, list[position]);
    // Only a child element outside CDATA is naked markup; `&lt;b&gt;` and CDATA stay text. A body
    // left as it is holds no start tag outside CDATA, so no construct starts in it: the scan goes on
    // after it (each body is read once, however many `<title>` its CDATA holds).
    if (!/<[A-Za-z]/.test(replaceCdataSections(body, () => ''))) {
      skipped = list[position]!;
      continue;
    }
    // The body, as written, is the HTML a lenient reader renders: its elements are markup, its
    // escaped `&lt;b&gt;` and its CDATA are text. Written escaped, so the parser reads that HTML
    // string back and no text becomes markup.
    const html = replaceCdataSections(body, escapeText);
    out += `${xml.slice(copied, open.index)}<${name}${attributes.replace(TEXT_TYPE, '')} type="html">${escapeText(html)}`;
    copied = list[position]!;
  }
  return copied === 0 ? xml : out + xml.slice(copied);
}

const MAX_REPAIR_DEPTH = 256;
const CONTAINERS = new Set(['rss', 'channel', 'feed', 'rdf']);
const ENTRY_ELEMENTS = new Set(['item', 'entry']);

/**
 * Closes what a broken document left open, as a lenient reader does: an element still open when an
 * item or entry starts (an unclosed <itunes:category> would swallow every item after it), or when
 * an ancestor closes; a close tag nothing opened is dropped.
 */
export function balanceTags(xml: string): string {
  const stack: string[] = [];
  let out = '';
  let last = 0;
  for (const { index, token, closing, opening } of xmlTokens(xml)) {
    // Real feeds are a few levels deep; past this the document is not one to repair (and the
    // searches below stay cheap).
    if (stack.length > MAX_REPAIR_DEPTH) return xml;
    let replacement = token;
    if (closing !== undefined) {
      const at = stack.lastIndexOf(closing);
      if (at === -1) replacement = '';
      else
        replacement = stack
          .splice(at)
          .reverse()
          .map((name) => `</${name}>`)
          .join('');
    } else if (opening !== undefined && !token.endsWith('/>')) {
      let closed = '';
      if (ENTRY_ELEMENTS.has(localNameOf(opening) ?? '') && stack.some((name) => CONTAINERS.has(localNameOf(name) ?? ''))) {
        while (stack.length > 0 && !CONTAINERS.has(localNameOf(stack.at(-1)) ?? '')) closed += `</${stack.pop()}>`;
      }
      stack.push(opening);
      replacement = closed + token;
    }
    out += xml.slice(last, index) + replacement;
    last = index + token.length;
  }
  return (
    out +
    xml.slice(last) +
    stack
      .reverse()
      .map((name) => `</${name}>`)
      .join('')
  );
}

// A comment or CDATA section is skipped whole, so the start tags inside one are not counted.
const ENTRY_TAG_OR_SKIPPED = /<!--|<!\[CDATA\[|<(?:[\w-]+:)?entry[\s>]/g;
const ITEM_TAG_OR_SKIPPED = /<!--|<!\[CDATA\[|<(?:[\w-]+:)?item[\s>]/g;

/**
 * How many items or entries the document holds, counted by their start tags outside comments and
 * CDATA. One scan, no copy of the document (it runs on every 200).
 */
export function countEntryTags(xml: string, format: XmlFeedFormat): number {
  return countStartTagsOutsideComments(xml, format === 'atom' ? ENTRY_TAG_OR_SKIPPED : ITEM_TAG_OR_SKIPPED);
}

const CONTENT_NS = 'http://purl.org/rss/1.0/modules/content/';
const XHTML_NS = 'http://www.w3.org/1999/xhtml';
// A prefix of our own, so the document's `content:` (bound to whatever it likes) cannot clash.
const CONTENT_OPEN = `<feedproxy-content:encoded xmlns:feedproxy-content="${CONTENT_NS}">`;
const CONTENT_CLOSE = '</feedproxy-content:encoded>';
const ITEM_BODY_HINT = /<(?:[\w-]+:)?(?:body|fullitem)[\s>]/i;

/**
 * An RSS item's full text in `<body>` (XHTML, often with no namespace) or `<fullitem>` (escaped
 * HTML), as older feeds and Universal Feed Parser know them: rewritten as content:encoded, which the
 * parser reads. Only a direct child of an item, only in items with no content:encoded of their own.
 */
export function withItemBodies(xml: string): string {
  if (!ITEM_BODY_HINT.test(xml) || /<(?:[\w-]+:)?encoded[\s>]/.test(xml)) return xml;
  const xhtmlPrefixes = new Set(
    [...xml.matchAll(/\sxmlns:([\w-]+)\s*=\s*["']([^"']*)["']/g)].filter((m) => m[2] === XHTML_NS).map((m) => m[1]!),
  );
  const stack: string[] = [];
  let out = '';
  let last = 0;
  let open: { name: string; start: number; innerStart: number; depth: number } | undefined;
  for (const { index, token, closing, opening } of xmlTokens(xml)) {
    if (stack.length > MAX_REPAIR_DEPTH) return xml;
    if (closing !== undefined) {
      const at = stack.lastIndexOf(closing);
      if (at !== -1) stack.splice(at);
      if (open !== undefined && closing === open.name && stack.length === open.depth) {
        out += xml.slice(last, open.start) + itemContent(open.name, xml.slice(open.innerStart, index));
        last = index + token.length;
        open = undefined;
      }
    } else if (opening !== undefined && !token.endsWith('/>')) {
      if (open === undefined && localNameOf(stack.at(-1)) === 'item' && isItemBody(opening, xhtmlPrefixes)) {
        open = { name: opening, start: index, innerStart: index + token.length, depth: stack.length };
      }
      stack.push(opening);
    }
  }
  return out + xml.slice(last);
}

function isItemBody(name: string, xhtmlPrefixes: ReadonlySet<string>): boolean {
  const colon = name.indexOf(':');
  const local = name.slice(colon + 1).toLowerCase();
  if (colon === -1) return local === 'body' || local === 'fullitem';
  return local === 'body' && xhtmlPrefixes.has(name.slice(0, colon));
}

function itemContent(name: string, inner: string): string {
  // <fullitem> holds escaped HTML already: its text is the HTML.
  if (localNameOf(name) === 'fullitem') return `${CONTENT_OPEN}${inner}${CONTENT_CLOSE}`;
  // <body> holds the markup itself: its prefix comes off the child elements, CDATA sections become
  // escaped text, and the whole is one CDATA section (each `]]>` split across two).
  const colon = name.indexOf(':');
  const unprefixed = colon === -1 ? inner : inner.replace(new RegExp(`<(/?)${name.slice(0, colon).replace(/\./g, '\\.')}:`, 'g'), '<$1');
  const html = replaceCdataSections(unprefixed, escapeText);
  return `${CONTENT_OPEN}<![CDATA[${html.replace(/\]\]>/g, ']]]]><![CDATA[>')}]]>${CONTENT_CLOSE}`;
}

// Every start tag withItemBodies or withPersonMarkupAsText looks for (each tests its own again), in
// one pattern: a document with none, most of them, is read once instead of once for each.
const ITEM_FIELD_HINT = /<(?:[\w-]+:)?(?:body|fullitem|author|managingEditor|webMaster)[\s>]/i;

/** withItemBodies, then withPersonMarkupAsText: what RSS items need repaired in their fields. */
export function withItemFieldsRepaired(xml: string): string {
  return ITEM_FIELD_HINT.test(xml) ? withPersonMarkupAsText(withItemBodies(xml)) : xml;
}

const DUBLIN_CORE_NS = 'http://purl.org/dc/elements/1.1/';

/**
 * dc:author, which is no Dublin Core element but what some feeds write (and Universal Feed Parser
 * reads) for dc:creator: renamed to it, for the prefixes bound to Dublin Core.
 */
export function withDcAuthorAsCreator(xml: string): string {
  if (!/:author[\s>]/.test(xml)) return xml;
  const prefixes = [...xml.matchAll(/\sxmlns:([\w-]+)\s*=\s*["']([^"']*)["']/g)].filter((m) => m[2] === DUBLIN_CORE_NS).map((m) => m[1]!);
  if (prefixes.length === 0) return xml;
  return xml.replace(new RegExp(`<(/?)(${prefixes.join('|')}):author(?=[\\s>/])`, 'g'), '<$1$2:creator');
}

/** HTML elements found wrapping a name in RSS person fields; `<jo@example.com>` is no element and stays. */
const HTML_TAG = /<\/?(?:a|abbr|b|big|br|cite|code|div|em|font|i|p|small|span|strong|sub|sup|u)\b[^<>]*>/gi;
// The inner part never spans another person element's tag (a comment that names `<author>` is no
// element), and the attributes never span a `<` (none is allowed in one): each try reads only up to
// the next tag, so many unclosed `<author x` cost linear time, not quadratic.
// Any case: the parser lowercases element names, so `<Author>` is an author too.
const RSS_PERSON_ELEMENT =
  /<(author|managingEditor|webMaster)((?:\s[^<>]*)?)>((?:(?!<\/?(?:author|managingEditor|webMaster)[\s>])[\s\S])*?)<\/\1\s*>/gi;
const RSS_PERSON_OPEN = /<(author|managingEditor|webMaster)((?:\s[^<>]*)?)>/gi;

// The parser reads "Name (e-mail)" by scanning from each bracket to its close: a field of many
// unclosed brackets cost it time quadratic in the field (80 KB held the event loop 8 s), so a field
// longer than any name with its addresses (MAX_PERSON_LENGTH) is cut to that many characters of its text.

function personTextCut(inner: string): string {
  const text = plainTextOf(replaceCdataSections(inner, escapeText));
  if (text.length <= MAX_PERSON_LENGTH) return text;
  // Not between the two halves of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text[MAX_PERSON_LENGTH - 1]!) ? MAX_PERSON_LENGTH - 1 : MAX_PERSON_LENGTH;
  return text.slice(0, end);
}

/**
 * Every RSS person field longer than MAX_PERSON_LENGTH, to its first close tag of the same name
 * (whatever it holds: comments, CDATA, other tags), cut to that much of its text. Linear: each field
 * is read once, the start tags inside one are its content, and a name with no close tag after one
 * start has none after a later one.
 */
function withLongPersonFieldsCut(xml: string): string {
  const closes = new Map<string, RegExp>();
  const noCloseAfter = new Map<string, number>();
  let out = '';
  let copied = 0;
  let readUntil = 0;
  for (const open of xml.matchAll(RSS_PERSON_OPEN)) {
    const [tag, name, attributes = ''] = open as unknown as [string, string, string | undefined];
    if (open.index < readUntil || tag.endsWith('/>')) continue;
    const key = name.toLowerCase();
    const innerStart = open.index + tag.length;
    if (innerStart >= (noCloseAfter.get(key) ?? Number.POSITIVE_INFINITY)) continue;
    let close = closes.get(key);
    if (close === undefined) closes.set(key, (close = new RegExp(`</${key}\\s*>`, 'gi')));
    close.lastIndex = innerStart;
    const found = close.exec(xml);
    if (found === null) {
      noCloseAfter.set(key, innerStart);
      continue;
    }
    readUntil = close.lastIndex;
    if (found.index - innerStart <= MAX_PERSON_LENGTH) continue;
    out += `${xml.slice(copied, open.index)}<${name}${attributes}>${escapeText(personTextCut(xml.slice(innerStart, found.index)))}</${name}>`;
    copied = readUntil;
  }
  return copied === 0 ? xml : out + xml.slice(copied);
}

/**
 * RSS `<author>`, `<managingEditor>` and `<webMaster>` holding HTML around the name — as elements,
 * escaped, or in CDATA (`<author>&lt;p&gt;Jo&lt;/p&gt;</author>`): the markup comes off, so the
 * parser's "Name <e-mail>" reading does not take `<p>` for an address (it named "p Jo </p>") and
 * the naked form is not lost. A name with an address in brackets and no HTML is left as written.
 */
export function withPersonMarkupAsText(xml: string): string {
  if (!/<(?:author|managingEditor|webMaster)[\s>]/i.test(xml)) return xml;
  return withLongPersonFieldsCut(xml).replace(RSS_PERSON_ELEMENT, (whole, name: string, attributes: string, inner: string) => {
    let text = replaceCdataSections(inner, escapeText);
    let hadMarkup = false;
    // Escaped once or twice over (CDATA around escaped markup): one decoding a round, at most three.
    for (let round = 0; round < 3; round += 1) {
      const stripped = text.replace(HTML_TAG, () => ((hadMarkup = true), ' '));
      if (/[<>]/.test(stripped.replace(/<[^<>@\s]+@[^<>\s]+>/g, ''))) return whole; // other elements (an Atom <name>): not ours to read
      text = decodeCommonEntities(stripped);
      if (text === stripped) break;
    }
    if (!hadMarkup) return whole;
    return `<${name}${attributes}>${escapeText(text.replace(/\s+/g, ' ').trim())}</${name}>`;
  });
}
