// OPML text ↔ our outline tree, through xml/xml-tree.ts: a user's OPML file is untrusted input, so
// a DTD is refused (no entity declaration is ever read, let alone expanded), and depth and outline
// count are bounded before anything walks it.
import { BadRequestError } from '../errors.js';
import { attribute, buildXml, children, createXmlTreeParser, first, rootName, textOf, XmlError, type XmlNode } from '../xml/xml-tree.js';
import { stripXmlInvalid } from '../text.js';

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

// Exporters disagree on case (`xmlUrl`, `xmlurl`, `XMLURL`); the name is what matters.
const parseXml = createXmlTreeParser({ lowerCaseNames: true, maxDepth: MAX_DEPTH });

/** Parses an OPML 1.0/2.0 document; anything else is a BadRequestError that says what is wrong. */
export function parseOpml(text: string): OpmlDocument {
  if (text.replace(/^\uFEFF/, '').trim() === '') throw new BadRequestError('OPML document is empty');
  let document: XmlNode;
  try {
    document = parseXml(text);
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
    throw new BadRequestError(
      error.reason === 'too-deep'
        ? `OPML nests outlines more than ${MAX_DEPTH} levels deep`
        : error.reason === 'dtd'
          ? `OPML must not contain a DTD: ${error.message}`
          : `OPML could not be read: ${error.message}`,
    );
  }
  const opml = first(document, 'opml');
  if (!opml) throw new BadRequestError(`not an OPML document: the root element is <${rootName(document) ?? 'nothing'}>, not <opml>`);
  const body = first(opml, 'body');
  if (!body) throw new BadRequestError('not an OPML document: <opml> has no <body>');
  if (countOutlines(body) > MAX_OUTLINES) throw new BadRequestError(`OPML has more than ${MAX_OUTLINES} outlines; split the file`);
  const title = textOf(first(first(opml, 'head'), 'title'));
  return { ...(title ? { title } : {}), outlines: children(body, 'outline').map(toOutline) };
}

/** An OPML 2.0 document listing `doc.outlines` as RSS subscriptions. */
export function buildOpml(doc: OpmlExport): string {
  return buildXml({
    opml: {
      '@_version': '2.0',
      head: { title: stripXmlInvalid(doc.title), dateCreated: doc.dateCreated.toUTCString() },
      body: {
        outline: doc.outlines.map((outline) => ({
          '@_type': 'rss',
          '@_text': stripXmlInvalid(outline.title),
          '@_title': stripXmlInvalid(outline.title),
          '@_xmlUrl': stripXmlInvalid(outline.xmlUrl),
          '@_htmlUrl': stripXmlInvalid(outline.htmlUrl),
        })),
      },
    },
  });
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
