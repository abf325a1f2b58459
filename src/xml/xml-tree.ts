// Untrusted XML ↔ a plain element tree; the only import of fast-xml-parser (OPML files from users,
// feed-discovery answers from OAuth providers). Not for feeds: parse/ reads those with feedsmith.
// A document with a DTD is refused before any parser sees it — entity bombs and external entities
// live there, and neither OPML nor a discovery answer needs one — so only XML's predefined entities
// and character references are ever decoded. Nesting depth is bounded.
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

/** One element: attributes as `@_name`, text as `#text`, child elements as arrays by name. */
export type XmlNode = { [key: string]: XmlNode[] | string | undefined };

export interface XmlTreeOptions {
  /** Element and attribute names lower-cased (for formats whose writers disagree on case). */
  lowerCaseNames?: boolean;
  /** Namespace prefixes dropped (`atom:link` is `link`). */
  localNames?: boolean;
  /** Deepest nesting accepted. */
  maxDepth?: number;
}

export type XmlErrorReason = 'dtd' | 'malformed' | 'too-deep';

export class XmlError extends Error {
  constructor(
    readonly reason: XmlErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'XmlError';
  }
}

const DEFAULT_MAX_DEPTH = 64;

/** Longest validator message an XmlError repeats. */
const MAX_REASON_CHARS = 200;

/**
 * The validator's message, cut: for unclosed elements it names every open one, and a 600 KB upload
 * of them made a 1.5 MB error answer (issue 18). The line and column already say where to look.
 */
function brief(message: string): string {
  return message.length <= MAX_REASON_CHARS
    ? message
    : `${message.slice(0, MAX_REASON_CHARS)}… (${message.length - MAX_REASON_CHARS} more characters)`;
}

/** A parser for one kind of document; it throws an XmlError saying why a text is refused. */
export function createXmlTreeParser(options: XmlTreeOptions = {}): (text: string) => XmlNode {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const lower = (name: string) => name.toLowerCase();
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    removeNSPrefix: options.localNames ?? false,
    ...(options.lowerCaseNames ? { transformAttributeName: lower, transformTagName: lower } : {}),
    parseTagValue: false,
    parseAttributeValue: false,
    alwaysCreateTextNode: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    // Predefined entities and &#…; references only: a DTD never gets this far.
    processEntities: true,
    htmlEntities: true,
    maxNestedTags: maxDepth,
    // Every element as an array: one walk handles one child and many alike.
    isArray: (_name, _path, _isLeaf, isAttribute) => !isAttribute,
  });
  return (text) => {
    const source = text.replace(/^\uFEFF/, '');
    const upper = source.toUpperCase();
    if (upper.includes('<!DOCTYPE') || upper.includes('<!ENTITY')) {
      throw new XmlError('dtd', 'the document contains a DTD (<!DOCTYPE> or <!ENTITY>): entity declarations are refused');
    }
    const validation = XMLValidator.validate(source);
    if (validation !== true) {
      const { msg, line, col } = validation.err;
      throw new XmlError('malformed', `not well-formed XML (line ${line}, column ${col}): ${brief(msg)}`);
    }
    try {
      return parser.parse(source) as XmlNode;
    } catch (error) {
      if (error instanceof Error && /nested/i.test(error.message))
        throw new XmlError('too-deep', `elements nest more than ${maxDepth} levels deep`);
      throw new XmlError('malformed', 'the document could not be parsed as XML');
    }
  };
}

/** An XML document from a tree in the same shape (`@_name` attributes), indented, with a declaration. */
export function buildXml(tree: Record<string, unknown>): string {
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, ...tree }) as string;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  suppressEmptyNode: true,
  processEntities: true,
});

export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  return Array.isArray(value) ? value : [];
}

export function first(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

export function attribute(node: XmlNode, name: string): string | undefined {
  const value = node[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

/** An element's text, trimmed; undefined when empty. */
export function textOf(node: XmlNode | undefined): string | undefined {
  const value = node?.['#text'];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** The name of the document's root element. */
export function rootName(document: XmlNode): string | undefined {
  return Object.keys(document).find((name) => Array.isArray(document[name]));
}
