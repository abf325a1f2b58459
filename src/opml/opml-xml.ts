// OPML text ↔ our outline tree. The only import of fast-xml-parser in opml/: a user's OPML file is
// untrusted input, so it is checked for well-formedness, refused outright when it carries a DTD
// (no entity declaration is ever read, let alone expanded), and bounded in depth and outline count
// before anything walks it. Only XML's predefined entities and character references are decoded.
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { BadRequestError } from '../errors.js';

export interface OpmlOutline {
  /** `text`, OPML's required label (Feedly and Inoreader repeat it in `title`). */
  text?: string;
  title?: string;
  /** Present (even empty) on subscription outlines. */
  xmlUrl?: string;
  htmlUrl?: string;
  children: OpmlOutline[];
}

export interface OpmlDocument {
  title?: string;
  outlines: OpmlOutline[];
}

/** A flat list of subscriptions, as we export them. */
export interface OpmlExport {
  title: string;
  dateCreated: Date;
  outlines: Array<{ title: string; xmlUrl: string; htmlUrl: string }>;
}

export const MAX_OUTLINES = 1000;
/** opml > body > outline…: real files nest two or three categories deep. */
const MAX_DEPTH = 32;

/** One parsed element: attributes as `@_name` (lower-cased), children as arrays. */
type XmlNode = { [key: string]: XmlNode[] | string | undefined };

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Exporters disagree on case (`xmlUrl`, `xmlurl`, `XMLURL`); the name is what matters.
  transformAttributeName: (name) => name.toLowerCase(),
  transformTagName: (name) => name.toLowerCase(),
  parseTagValue: false,
  parseAttributeValue: false,
  alwaysCreateTextNode: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Predefined entities and &#…; references only: a DTD never gets this far (see checkNoDtd).
  processEntities: true,
  htmlEntities: true,
  maxNestedTags: MAX_DEPTH,
  isArray: (_name, _path, _isLeaf, isAttribute) => !isAttribute,
});

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  suppressEmptyNode: true,
  processEntities: true,
});

/** Parses an OPML 1.0/2.0 document; anything else is a BadRequestError that says what is wrong. */
export function parseOpml(text: string): OpmlDocument {
  const source = text.replace(/^\uFEFF/, '');
  if (source.trim() === '') throw new BadRequestError('OPML document is empty');
  checkNoDtd(source);
  const validation = XMLValidator.validate(source);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    throw new BadRequestError(`OPML is not well-formed XML (line ${line}, column ${col}): ${msg}`);
  }
  let document: XmlNode;
  try {
    document = parser.parse(source) as XmlNode;
  } catch (error) {
    const tooDeep = error instanceof Error && /nested/i.test(error.message);
    throw new BadRequestError(tooDeep ? `OPML nests outlines more than ${MAX_DEPTH} levels deep` : 'OPML could not be parsed as XML');
  }
  const opml = first(document, 'opml');
  if (!opml) throw new BadRequestError(`not an OPML document: the root element is <${rootName(document)}>, not <opml>`);
  const body = first(opml, 'body');
  if (!body) throw new BadRequestError('not an OPML document: <opml> has no <body>');
  if (countOutlines(body) > MAX_OUTLINES) throw new BadRequestError(`OPML has more than ${MAX_OUTLINES} outlines; split the file`);
  const title = textOf(first(first(opml, 'head'), 'title'));
  return { ...(title ? { title } : {}), outlines: children(body, 'outline').map(toOutline) };
}

/** An OPML 2.0 document listing `doc.outlines` as RSS subscriptions. */
export function buildOpml(doc: OpmlExport): string {
  const tree = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    opml: {
      '@_version': '2.0',
      head: { title: xmlSafe(doc.title), dateCreated: doc.dateCreated.toUTCString() },
      body: {
        outline: doc.outlines.map((outline) => ({
          '@_type': 'rss',
          '@_text': xmlSafe(outline.title),
          '@_title': xmlSafe(outline.title),
          '@_xmlUrl': xmlSafe(outline.xmlUrl),
          '@_htmlUrl': xmlSafe(outline.htmlUrl),
        })),
      },
    },
  };
  return builder.build(tree) as string;
}

/**
 * A DTD is where entity bombs (billion laughs) and external entities live, and OPML has no use for
 * one. Any declaration anywhere is refused, before a parser sees the text.
 */
function checkNoDtd(text: string): void {
  const upper = text.toUpperCase();
  if (upper.includes('<!DOCTYPE') || upper.includes('<!ENTITY')) {
    throw new BadRequestError('OPML must not contain a DTD (<!DOCTYPE> or <!ENTITY>): entity declarations are refused');
  }
}

function toOutline(node: XmlNode): OpmlOutline {
  const text = attribute(node, 'text');
  const title = attribute(node, 'title');
  const xmlUrl = attribute(node, 'xmlurl');
  const htmlUrl = attribute(node, 'htmlurl');
  return {
    ...(text !== undefined ? { text } : {}),
    ...(title !== undefined ? { title } : {}),
    ...(xmlUrl !== undefined ? { xmlUrl } : {}),
    ...(htmlUrl !== undefined ? { htmlUrl } : {}),
    children: children(node, 'outline').map(toOutline),
  };
}

function countOutlines(node: XmlNode): number {
  return children(node, 'outline').reduce((count, child) => count + 1 + countOutlines(child), 0);
}

function rootName(document: XmlNode): string {
  return Object.keys(document).find((name) => Array.isArray(document[name])) ?? 'nothing';
}

function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  return Array.isArray(value) ? value : [];
}

function first(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

function attribute(node: XmlNode, name: string): string | undefined {
  const value = node[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

function textOf(node: XmlNode | undefined): string | undefined {
  const value = node?.['#text'];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** XML 1.0 §2.2: control characters other than tab, LF and CR cannot appear in a document at all. */
function xmlSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '');
}
