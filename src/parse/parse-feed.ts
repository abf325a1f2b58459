// Upstream bytes → ParsedFeed: the format is detected (detect-format.ts), broken documents lenient
// readers still read are repaired (repair-xml.ts), feedsmith parses, and each format's normaliser
// (formats/) turns the result into plain data of our own types: text is plain, HTML is sanitised,
// URLs are absolute http(s) with the source's secrets taken out, dates are ISO 8601. feedsmith is
// imported only in parse/ (its types in the normalisers).
import { DetectError, MalformedError, ParseError, parseAtomFeed, parseJsonFeed, parseRdfFeed, parseRssFeed } from 'feedsmith';
import { NotAFeedError, isCodedError } from '../errors.js';
import type { Entry, ParsedFeed } from '../model.js';
import { decodeBody } from './decode-body.js';
import { classifyDocument, type XmlFeedFormat } from './detect-format.js';
import { normaliseAtom } from './formats/atom.js';
import { normaliseJson } from './formats/json-feed.js';
import { normaliseRdf } from './formats/rdf.js';
import { normaliseRss } from './formats/rss.js';
import { stableId, type Context } from './normalise.js';
import { createSecretRedactor } from './redact-secrets.js';
import { vainTagScanExceeds } from './scan-xml.js';
import {
  balanceTags,
  countEntryTags,
  isCutOff,
  withBase64Decoded,
  withDcAuthorAsCreator,
  withChannel,
  withItemFieldsRepaired,
  withLastTagClosed,
  withNakedMarkupAsHtml,
  withRssPrefixDropped,
} from './repair-xml.js';

export interface ParseFeedOptions {
  /** URL the document was fetched from: base of relative links, and its query values are secrets. */
  baseUrl: string;
  contentType?: string;
  /**
   * Entries this source's last parse made, by `fingerprint`: an item whose fingerprint is known is
   * taken as is instead of normalised and sanitised again (usually all but the newest few).
   */
  known?: ReadonlyMap<string, Entry>;
}

// Bounds the work one document can cause downstream; real feeds carry tens to hundreds.
const MAX_ENTRIES = 5000;
/** Characters the parser may read in vain for tags that never close (≈ 40 ms): a few strays pass, a run does not. */
const MAX_VAIN_TAG_SCAN = 20_000_000;

function toNotAFeed(error: unknown): Error {
  if (isCodedError(error)) return error;
  // Too deep for the stack (ours, the XML parser's or JSON's): refuse the document, keep the process.
  if (error instanceof RangeError) return new NotAFeedError('the document is nested too deeply');
  if (error instanceof MalformedError) {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    return new NotAFeedError(/nest/i.test(cause) ? 'the document is nested too deeply' : 'malformed XML');
  }
  if (error instanceof DetectError) return new NotAFeedError('unrecognised feed format');
  return new NotAFeedError('the document could not be read as a feed');
}

/**
 * Parses an upstream feed document (RSS 0.9x/2.0, RDF/RSS 1.0, Atom 0.3/1.0, JSON Feed 1.0/1.1).
 * Throws NotAFeedError (FP_NOT_A_FEED) with a short, safe reason for anything else, including
 * documents that declare entities and documents nested too deeply.
 */
export function parseFeed(body: Buffer | string, options: ParseFeedOptions): ParsedFeed {
  const context: Context = {
    redactor: createSecretRedactor(options.baseUrl),
    sourceUrl: options.baseUrl,
    ...(options.known ? { known: options.known } : {}),
  };
  try {
    const document = classifyDocument(decodeBody(body, options.contentType));
    if (document.kind === 'json') return normaliseJson(context, parseJsonFeed(document.value, { maxItems: MAX_ENTRIES }), options.baseUrl);
    const whole = withDcAuthorAsCreator(withLastTagClosed(document.xml));
    const xml =
      document.format === 'rss'
        ? withItemFieldsRepaired(withChannel(withRssPrefixDropped(whole)))
        : document.format === 'atom'
          ? withNakedMarkupAsHtml(withBase64Decoded(whole))
          : whole;
    // Tags that never close hold the parser for time quadratic in their number (scan-xml.ts): refused
    // past what reading the whole document a few times would cost.
    if (vainTagScanExceeds(xml, Math.max(MAX_VAIN_TAG_SCAN, 4 * xml.length)))
      throw new NotAFeedError('malformed XML: tags that never close');
    const expected = countEntryTags(xml, document.format);
    let parsed: ParsedFeed | undefined;
    let malformed: Error | undefined;
    try {
      parsed = parseXml(context, document.format, xml, options.baseUrl);
    } catch (error) {
      // A refusal for what the document lacks, or malformed XML around items in a whole document
      // (a tag closed by the wrong name), is worth a second reading, as lenient readers give it.
      // Too deep stays refused, and so does a document cut off before its end: that is a failed
      // transfer, and refusing it keeps the last good entries published (the source turns stale).
      const nestedTooDeep = error instanceof MalformedError && error.cause instanceof Error && /nest/i.test(error.cause.message);
      if (error instanceof MalformedError && !nestedTooDeep && !isCutOff(xml)) malformed = error;
      if (expected === 0 || !(error instanceof ParseError || error instanceof DetectError || malformed)) throw error;
    }
    // Items the document holds but the parse lost (an unclosed element swallowed them, the feed
    // was refused for what it lacks, or it is malformed): read again with tags balanced.
    if (expected > 0 && (parsed === undefined || parsed.entries.length === 0)) {
      // Malformed XML that balancing does not mend stays refused as such: no entries made of bytes.
      parsed = recoverEntries(context, document.format, xml, options.baseUrl, malformed === undefined) ?? parsed;
    }
    if (parsed === undefined) throw malformed ?? new NotAFeedError('unrecognised feed format');
    // Never "ok" with nothing when the document has entries: say so instead.
    if (parsed.entries.length === 0 && expected > 0) {
      throw new NotAFeedError(
        `malformed XML: the document has ${expected} ${document.format === 'atom' ? 'entries' : 'items'} but none could be read`,
      );
    }
    return parsed;
  } catch (error) {
    throw toNotAFeed(error);
  }
}

function parseXml(context: Context, format: XmlFeedFormat, xml: string, baseUrl: string): ParsedFeed {
  const parseOptions = { maxItems: MAX_ENTRIES };
  switch (format) {
    case 'rss':
      return normaliseRss(context, parseRssFeed(xml, parseOptions), baseUrl);
    case 'atom':
      return normaliseAtom(context, parseAtomFeed(xml, parseOptions), baseUrl);
    case 'rdf':
      return normaliseRdf(context, parseRdfFeed(xml, parseOptions), baseUrl);
  }
}

/**
 * A second reading of a document whose entries the first one lost: tags balanced; and when the
 * parser still refuses it (a channel with no title whose items hold only elements it does not
 * know), one entry per item, told apart by the item's own bytes.
 */
function recoverEntries(
  context: Context,
  format: XmlFeedFormat,
  xml: string,
  baseUrl: string,
  byItemBytes: boolean,
): ParsedFeed | undefined {
  let repaired: ParsedFeed | undefined;
  try {
    repaired = parseXml(context, format, balanceTags(xml), baseUrl);
  } catch (error) {
    if (!(error instanceof ParseError || error instanceof DetectError)) return undefined;
  }
  if (!byItemBytes || (repaired !== undefined && repaired.entries.length > 0)) return repaired;
  // Each item runs from its start tag to the next one: linear in the document, whatever is unclosed.
  const starts = [...xml.matchAll(format === 'atom' ? /<(?:[\w-]+:)?entry[\s>]/g : /<(?:[\w-]+:)?item[\s>]/g)].map((match) => match.index);
  const items = starts.slice(0, MAX_ENTRIES).map((start, index) => xml.slice(start, starts[index + 1] ?? xml.length));
  if (items.length === 0) return repaired;
  return {
    format,
    ...(repaired?.title === undefined ? {} : { title: repaired.title }),
    ...(repaired?.link === undefined ? {} : { link: repaired.link }),
    entries: items.map((item) => ({ id: stableId(context, undefined, undefined, [item]), authors: [], categories: [], enclosures: [] })),
  };
}
