// Differences the differential check finds that are not losses: the reference's own reading of a
// construct (Universal Feed Parser is lenient and reads things no format defines, by local name,
// wherever they stand), or a document feedproxy refuses by design. Each rule is narrow, says why,
// and is counted apart in the figures (`npm run corpus` prints every classified case with its
// reason), so a rule never hides a loss silently. A rule is for what the reference reads wrongly
// or what no reader shows — never for what feedproxy could carry and does not.
import type { Field, OutputFormat, ReadEntry } from './differential.js';

export interface ClassifyCase {
  field: Field;
  format: OutputFormat;
  /** The reference's reading of the original: its version, and every entry of the document. */
  version: string;
  entries: readonly ReadEntry[];
  entry: ReadEntry;
  /** The output entry paired with it, if any. */
  copy: ReadEntry | undefined;
  /** The original document, as served. */
  body: string;
}

interface EntryRule {
  fields: readonly Field[];
  reason: string;
  applies: (subject: ClassifyCase) => boolean;
}

const squeeze = (text: string | null | undefined): string => (text ?? '').replace(/\s+/g, '').toLowerCase();

/** The calendar day a `2020/1/10 14:33` date names, as a UTC midnight in seconds. */
function slashedDay(raw: string): number | undefined {
  const match = /^\s*(\d{4})\/(\d{1,2})\/(\d{1,2})\b/.exec(raw);
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 1000 : undefined;
}

const DAY = 86_400;

// eslint-disable-next-line no-control-regex -- the characters XML 1.0 forbids are the point
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

/** Text of a fragment as written in a document: tags out, the common references decoded. */
const stripMarkup = (text: string): string =>
  decodeReferences(
    decodeReferences(text)
      .replace(/<[^>]*>/g, ' ')
      .replace(/&#34;/g, '"'),
  );

const decodeReferences = (text: string): string =>
  text.replace(/&(lt|gt|amp|quot|#39);/g, (_whole, name: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', '#39': "'" })[name] ?? '');

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The document's text: UTF-8 when its bytes are UTF-8, else windows-1252 (as feedproxy reads it). */
function decodedBody(body: string): string {
  const bytes = Buffer.from(body, 'latin1');
  return new TextDecoder(isUtf8(bytes) ? 'utf-8' : 'windows-1252').decode(bytes);
}

/** The items and entries of a document, each as written (RSS <item>, Atom <entry>). */
const entryBlocks = (body: string): string[] =>
  [...decodedBody(body).matchAll(/<(item|entry)\b[\s\S]*?<\/\1\s*>/g)].map((match) => match[0]);

/** The text of every `<name>` in a fragment, as written (markup out, references decoded). */
const elementTexts = (fragment: string, name: string): string[] =>
  [...fragment.matchAll(new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)<\\/${name}\\s*>`, 'g'))].map((match) =>
    stripMarkup(match[1]!.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')),
  );

/** Both texts say the same, whitespace and case aside, and say something. */
const same = (left: string | null | undefined, right: string | null | undefined): boolean =>
  squeeze(left) !== '' && squeeze(left) === squeeze(right);

const ENTRY_RULES: readonly EntryRule[] = [
  {
    fields: ['links'],
    reason: 'the reference took an Atom id for a link (RFC 4287 §4.2.6: an id names, it does not locate; the output keeps the id)',
    applies: ({ entry, version }) => entry.linkIsId && (version.startsWith('atom') || version === ''),
  },
  {
    fields: ['links'],
    reason: 'the reference resolved a guid that is no URL (`abc123`) against the document’s address and made it the link',
    applies: ({ entry, version, body }) =>
      entry.linkIsId && version.startsWith('rss') && /<guid(?:\s[^>]*)?>\s*(?!https?:)[^<\s]+\s*<\/guid>/.test(body),
  },
  {
    fields: ['titles'],
    reason:
      'a <media:title> nested in an <enclosure> (Media RSS puts it in the item, a group or a media:content): the reference reads it by local name as the item’s title',
    // The item's enclosure holds the media:title the reference shows, and the output has the item's
    // own <title>, or none (RSS's "Untitled") when the item has none.
    applies: ({ entry, copy, body }) =>
      copy !== undefined &&
      entryBlocks(body).some((item) => {
        const nested = [...item.matchAll(/<enclosure\b[^>]*>([\s\S]*?)<\/enclosure>/g)].flatMap((match) =>
          elementTexts(match[1]!, 'media:title'),
        );
        const own = elementTexts(item.replace(/<enclosure\b[\s\S]*?<\/enclosure>/g, ''), 'title');
        return (
          nested.some((title) => same(title, entry.title)) &&
          (own.some((title) => same(title, copy.title)) || (own.length === 0 && (copy.title === null || copy.title === 'Untitled')))
        );
      }),
  },
  {
    fields: ['titles', 'text'],
    reason: 'a control character XML 1.0 forbids (§2.2): feedproxy drops it',
    applies: ({ field, entry, copy }) => {
      const expected = (field === 'titles' ? entry.title : entry.text) ?? '';
      const withoutControls = expected.replace(CONTROL_CHARACTERS, '');
      return withoutControls !== expected && withoutControls === (field === 'titles' ? copy?.title : copy?.text);
    },
  },
  {
    fields: ['text'],
    reason:
      'an item with both <description> and <itunes:summary>: the reference shows the one written last, feedproxy the description (RSS’s own)',
    // One item holds the itunes:summary the reference shows and a <description> the output shows.
    applies: ({ entry, copy, body }) => {
      const wanted = squeeze(entry.text).slice(0, 40);
      return (
        wanted !== '' &&
        entryBlocks(body).some(
          (item) =>
            elementTexts(item, 'itunes:summary').some((summary) => squeeze(summary).includes(wanted)) &&
            elementTexts(item, 'description').some((description) => same(description, copy?.text)),
        )
      );
    },
  },
  {
    fields: ['links'],
    reason: 'the reference’s link is not a URL (the WHATWG URL parser refuses it)',
    applies: ({ entry }) => entry.link !== null && !URL.canParse(entry.link),
  },
  {
    fields: ['links'],
    reason: 'an empty href: the reference resolved it to the feed document itself, which is no entry’s page',
    applies: ({ entry, body }) =>
      /<link\b[^>]*\bhref\s*=\s*(?:""|'')/.test(body) &&
      [...body.matchAll(/xml:base\s*=\s*["']([^"']+)["']/g)].some((base) => base[1] === entry.link),
  },
  {
    fields: ['entries', 'links'],
    reason: 'an Atom <link> with its URL as text and no href: not Atom (RFC 4287 §4.2.7.1: href is required); the reference reads the text',
    // The entry itself has such a link, and it is the link the reference read; a missing entry had
    // nothing else (its enclosures, if any, are such links too).
    applies: ({ field, entry, body, version }) =>
      version.startsWith('atom') &&
      entry.link !== null &&
      entryBlocks(body).some((block) => {
        const texts = [...block.matchAll(/<link\b(?![^>]*\bhref\s*=)[^>]*>\s*(https?:[^<]*?)\s*<\/link>/g)].map((match) => match[1]!);
        const bare =
          entry.title === null &&
          entry.text === null &&
          entry.dates.length + entry.authors.length === 0 &&
          entry.enclosures.every((enclosure) => texts.includes(enclosure.url));
        return texts.includes(entry.link!) && (field === 'links' || bare);
      }),
  },
  {
    fields: ['titles', 'links'],
    reason: 'the reference read an <image> nested in a <category> as the item’s title and link',
    // The item's category holds the image the reference read, and the output has the item's own title or link.
    applies: ({ field, entry, copy, body }) =>
      entryBlocks(body).some((item) => {
        const images = [...item.matchAll(/<category\b[^>]*>[^<]*<image>([\s\S]*?)<\/image>/g)].map((match) => match[1]!);
        const own = item.replace(/<category\b[\s\S]*?<\/category>/g, '');
        if (field === 'titles')
          return (
            images.some((image) => elementTexts(image, 'title').some((title) => same(title, entry.title))) &&
            (elementTexts(own, 'title').some((title) => same(title, copy?.title)) ||
              (copy !== undefined && !/<title[\s>]/.test(own) && (copy.title === null || copy.title === 'Untitled')))
          );
        return (
          images.some((image) => elementTexts(image, 'link').some((link) => same(link, entry.link))) &&
          (elementTexts(own, 'link').some((link) => same(link, copy?.link)) || (copy !== undefined && !/<link[\s>]/.test(own)))
        );
      }),
  },
  {
    fields: ['links', 'dates', 'enclosures', 'text'],
    reason:
      'Atom element names with no namespace in an RSS item (<link href>, <updated>, <summary>): not RSS; the reference reads them by local name',
    applies: ({ field, entry, body, version }) => {
      if (!version.startsWith('rss') || !/<item\b/.test(body)) return false;
      const hrefs = [...body.matchAll(/<link\s[^>]*\bhref\s*=\s*["']([^"']*)["']/g)].map((match) => match[1]);
      if (field === 'links') return hrefs.includes(entry.link ?? '');
      if (field === 'enclosures') return entry.enclosures.every((enclosure) => hrefs.includes(enclosure.url));
      if (field === 'dates') return /<item\b[\s\S]*?<updated>/.test(body) && !/<pubDate>/.test(body);
      return [...body.matchAll(/<summary>([^<]*)<\/summary>/g)].some((match) => squeeze(match[1]) === squeeze(entry.text));
    },
  },
  {
    fields: ['text'],
    reason: 'an unprefixed <og> block in an RSS item: the reference takes its <description> for the item’s, feedproxy keeps the item’s own',
    // One item's <og> block holds the text the reference shows, and the output has that item's own <description>.
    applies: ({ entry, copy, body }) =>
      entryBlocks(body).some((item) => {
        const og = [...item.matchAll(/<og\b[^>]*>([\s\S]*?)<\/og\s*>/g)].map((match) => match[1]!);
        const own = item.replace(/<og\b[\s\S]*?<\/og\s*>/g, '');
        return (
          og.some((block) => elementTexts(block, 'description').some((description) => same(description, entry.text))) &&
          elementTexts(own, 'description').some((description) => same(description, copy?.text))
        );
      }),
  },
  {
    fields: ['titles', 'text'],
    reason: 'the reference’s text holds what no browser shows: comment, CDATA or script remnants, an HTML head’s title',
    applies: ({ entry, copy, field, body }) => {
      const expected = field === 'titles' ? entry.title : entry.text;
      const actual = field === 'titles' ? copy?.title : copy?.text;
      // The output is the reference's text without its comments and CDATA markers.
      if (expected !== null && /<!|-->|\]\]>/.test(expected))
        return (
          squeeze(expected.replace(/<!--[\s\S]*?(?:-->|$)/g, ' ').replace(/<!\[CDATA\[|\]\]>|-->|<![^>]*(?:>|$)/g, ' ')) === squeeze(actual)
        );
      // The reference's sanitiser dropped <script> and <head> tags but kept their text; what is left is the same.
      return /(?:<|&lt;)(?:script|head)\b/i.test(body) && squeeze(actual) !== '' && squeeze(expected).endsWith(squeeze(actual));
    },
  },
  {
    fields: ['text'],
    reason:
      'text inside an SVG drawing (its title, desc or metadata), which readers do not show; the sanitiser drops SVG whole (SECURITY.md)',
    applies: ({ entry, copy, body }) => {
      // Every word the output lacks is one written inside an <svg> of the document.
      const inSvg = [...body.replace(/&lt;/g, '<').matchAll(/<svg\b[\s\S]*?<\/svg\s*>/gi)]
        .map((match) => match[0].replace(/<[^>]*>/g, ' '))
        .join(' ');
      const kept = new Set((copy?.text ?? '').split(/\s+/));
      const lacking = (entry.text ?? '').split(/\s+/).filter((word) => word !== '' && !kept.has(word));
      return inSvg !== '' && lacking.length > 0 && lacking.every((word) => inSvg.includes(word));
    },
  },
  {
    fields: ['titles'],
    reason:
      'a title whose text is a character reference written out (`&lt;`): JSON Feed titles are plain text, and the reading of JSON decodes references as readers do',
    applies: ({ format, entry, copy }) => format === 'json' && entry.title !== null && decodeReferences(entry.title) === copy?.title,
  },
  {
    fields: ['text', 'titles'],
    reason:
      'bytes in an undeclared encoding that is not UTF-8 (XML 1.0 §4.3.3 and RFC 7303 §8.5 make them UTF-8): the reference guesses TIS-620 and the like with chardet, feedproxy reads windows-1252',
    // The output's text is the windows-1252 reading of what the document writes: its letters from
    // the upper half of windows-1252 stand in the document in that order, and it is as long as the
    // reference's (a single-byte encoding read as another keeps one character per byte).
    applies: ({ field, entry, copy, body }) => {
      if (/<\?xml[^>]*encoding\s*=/.test(body.slice(0, 200)) || isUtf8(Buffer.from(body, 'latin1'))) return false;
      const expected = squeeze(field === 'titles' ? entry.title : entry.text);
      const actual = squeeze(field === 'titles' ? copy?.title : copy?.text);
      const upper = (text: string): string => text.replace(/[^\u00a0-\u00ff]/g, '');
      return (
        upper(actual).length >= 3 &&
        actual.length >= 0.9 * expected.length &&
        upper(decodedBody(body)).toLowerCase().includes(upper(actual))
      );
    },
  },
  {
    fields: ['entries'],
    reason: 'entries sharing one id are one entry (RFC 4287 §4.2.6, RSS guid): the output keeps one',
    applies: ({ entry, entries }) => entry.id !== null && entries.filter((other) => other.id?.trim() === entry.id?.trim()).length > 1,
  },
  {
    fields: ['entries'],
    reason: 'two entries with no id identical in title, link, text and dates: the output keeps one',
    applies: ({ entry, entries }) =>
      entry.id === null &&
      entries.filter(
        (other) =>
          other.title === entry.title &&
          other.link === entry.link &&
          squeeze(other.text) === squeeze(entry.text) &&
          JSON.stringify(other.dates) === JSON.stringify(entry.dates),
      ).length > 1,
  },
  {
    fields: ['authors'],
    reason:
      'HTML around the name in an RSS <author> (`<p>Jo</p>`, escaped or not): the reference keeps the tags as the name’s text, feedproxy names the person by that text',
    // Every author the reference reads has HTML tags in it, and the output names each by its text.
    applies: ({ entry, copy }) => {
      const shown = (copy?.authors ?? []).map(squeeze);
      return (
        entry.authors.length > 0 &&
        entry.authors.every((author) => {
          const text = stripMarkup(stripMarkup(author));
          return /<\/?[a-z]+\b[^>]*>/i.test(decodeReferences(author)) && squeeze(text) !== '' && shown.includes(squeeze(text));
        })
      );
    },
  },
  {
    fields: ['dates'],
    reason: 'an entry with two <updated> (allowed once): the reference takes the last, feedproxy the first',
    // The entry has two: the reference's date is the last, the output's the first.
    applies: ({ entry, copy, body }) =>
      entryBlocks(body).some((block) =>
        [...block.matchAll(/<(updated|modified)>([^<]*)<\/\1>\s*<\1>([^<]*)<\/\1>/g)].some((match) => {
          const first = Date.parse(match[2]!.trim()) / 1000;
          return entry.rawDates.includes(match[3]!.trim()) && (copy?.dates ?? []).includes(first);
        }),
      ),
  },
  {
    fields: ['dates'],
    reason: 'the reference misreads a year/month/day date (`2020/1/10 14:33`); the output has that day',
    applies: ({ entry, copy }) =>
      entry.rawDates.some((raw) => {
        const day = slashedDay(raw);
        return day !== undefined && (copy?.dates ?? []).some((date) => date > day - DAY && date < day + 2 * DAY);
      }),
  },
];

/** Why this difference is not a loss, or undefined when it is one. */
export function classifyDifference(subject: ClassifyCase): string | undefined {
  return ENTRY_RULES.find((rule) => rule.fields.includes(subject.field) && rule.applies(subject))?.reason;
}

const REFUSAL_RULES: ReadonlyArray<{ reason: string; applies: (body: string, entries: readonly ReadEntry[]) => boolean }> = [
  {
    reason: 'refused by design: the document type declares entities (SECURITY.md, entity expansion)',
    applies: (body) => /<!DOCTYPE[^>[]*\[[^\]]*<!ENTITY/i.test(body),
  },
  {
    reason: 'Microsoft CDF (Channel Definition Format, 1997): a <CHANNEL> root is no RSS, RDF, Atom or JSON Feed',
    applies: (body) => /^\s*(?:<\?xml[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*)*<channel[\s>]/i.test(body),
  },
  {
    reason:
      'every entry the reference reads is empty (no title, link, date, author, enclosure or text): refused with that reason, not published as entries of nothing',
    applies: (_body, entries) =>
      entries.every(
        (entry) =>
          entry.title === null &&
          entry.link === null &&
          entry.text === null &&
          entry.dates.length + entry.authors.length + entry.enclosures.length === 0,
      ),
  },
];

/** Why refusing this document is not a loss, or undefined when it is one. */
export function classifyRefusal(body: string, entries: readonly ReadEntry[]): string | undefined {
  return REFUSAL_RULES.find((rule) => rule.applies(body, entries))?.reason;
}
