// The only import of sanitize-html. Upstream HTML is hostile until proven otherwise: whatever
// leaves this file is republished to feed readers and aggregator pages that render it.
import sanitize from 'sanitize-html';
import { escapeText } from '../text.js';

const ALLOWED_TAGS = [
  'a',
  'abbr',
  'b',
  'bdi',
  'bdo',
  'blockquote',
  'br',
  'caption',
  'cite',
  'code',
  'col',
  'colgroup',
  'dd',
  'del',
  'details',
  'dfn',
  'div',
  'dl',
  'dt',
  'em',
  'figcaption',
  'figure',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'i',
  'img',
  'ins',
  'kbd',
  'li',
  'mark',
  'ol',
  'p',
  'picture',
  'pre',
  'q',
  'rp',
  'rt',
  'ruby',
  's',
  'samp',
  'small',
  'span',
  'strike',
  'strong',
  'sub',
  'summary',
  'sup',
  'table',
  'tbody',
  'td',
  'tfoot',
  'th',
  'thead',
  'time',
  'tr',
  'u',
  'ul',
  'var',
  'wbr',
  'audio',
  'video',
  'source',
  'track',
];

// No `style`, no `class` (except code languages), no `on*`, no `srcset` (its URL list would need
// its own resolver and scheme check; `src` is enough for a feed reader).
const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  a: ['href', 'title', 'rel', 'hreflang'],
  img: ['src', 'alt', 'title', 'width', 'height'],
  abbr: ['title'],
  dfn: ['title'],
  blockquote: ['cite'],
  q: ['cite'],
  del: ['cite', 'datetime'],
  ins: ['cite', 'datetime'],
  time: ['datetime'],
  ol: ['start', 'reversed', 'type'],
  li: ['value'],
  td: ['colspan', 'rowspan', 'headers'],
  th: ['colspan', 'rowspan', 'headers', 'scope', 'abbr'],
  col: ['span'],
  colgroup: ['span'],
  details: ['open'],
  audio: ['src', 'controls', 'loop', 'muted', 'preload'],
  video: ['src', 'controls', 'loop', 'muted', 'preload', 'poster', 'width', 'height'],
  source: ['src', 'type', 'media'],
  track: ['src', 'kind', 'srclang', 'label', 'default'],
  code: ['class'],
  pre: ['class'],
  bdo: ['dir'],
  '*': ['lang', 'dir'],
};

const URL_ATTRIBUTES = ['href', 'src', 'cite', 'poster'];
const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);
// Media must come from the web: no data:, no mailto:, nothing a browser would run.
const MEDIA_SCHEMES = new Set(['http:', 'https:']);

// Tags whose whole content goes, not just the tag: their text is code or chrome, never prose.
// <object>, <applet> and <iframe> are not among them: what they hold is fallback content, for
// readers that do not show the embedded thing (HTML 4.01 §13.3, §16.5) — as we do not — and it goes
// through the same rules as the rest (Universal Feed Parser keeps it too). Nor is <math>: MathML's
// elements stay out of the allow-list (namespace confusion is the classic mutation-XSS route past a
// sanitiser whose parser is not the browser's), but its text is the formula, read as text ("a + b");
// only its annotations (TeX source and the like, never rendered) go.
const NON_TEXT_TAGS = [
  'script',
  'style',
  'textarea',
  'option',
  'noscript',
  'frame',
  'frameset',
  'embed',
  'svg',
  'annotation',
  'annotation-xml',
  'template',
  'title',
  'head',
  'select',
  'canvas',
  'xmp',
  'noembed',
  'noframes',
  'plaintext',
];

// Deeper than this, tags are dropped and their text kept.
const NESTING_LIMIT = 64;
// htmlparser2 (sanitize-html's parser) keeps its open elements in an array it shifts and searches
// on every tag: its work is quadratic in how deep the fragment takes it (100 000 nested <div>s, or
// <a></b> repeated, take seconds). Past this depth the fragment is hostile and is dropped whole.
const MAX_OPEN_DEPTH = 2000;
// Elements htmlparser2 never keeps open (its void elements).
const VOID_ELEMENTS = new Set(
  'area base basefont br col command embed frame hr img input isindex keygen link meta param source track wbr'.split(' '),
);
// Elements inside which htmlparser2 honours `<x/>` as self-closing.
const FOREIGN_ELEMENTS = new Set(['math', 'svg']);
// An element's start closes these when they are the innermost open (htmlparser2's rules, for the
// elements real fragments leave unclosed: paragraphs, list items, table cells, options).
const IMPLIED_CLOSES = new Map<string, ReadonlySet<string>>([
  ...'p h1 h2 h3 h4 h5 h6 address article aside blockquote details div dl fieldset figcaption figure footer form header hr main nav ol pre section table ul'
    .split(' ')
    .map((name): [string, ReadonlySet<string>] => [name, new Set(['p'])]),
  ['li', new Set(['li'])],
  ['dd', new Set(['dd', 'dt'])],
  ['dt', new Set(['dd', 'dt'])],
  ['tr', new Set(['tr', 'th', 'td'])],
  ['th', new Set(['th'])],
  ['td', new Set(['thead', 'th', 'td'])],
  ['option', new Set(['option'])],
  ['optgroup', new Set(['optgroup', 'option'])],
  ['rt', new Set(['rt', 'rp'])],
  ['rp', new Set(['rt', 'rp'])],
  ['tbody', new Set(['thead', 'tbody'])],
  ['tfoot', new Set(['thead', 'tbody'])],
]);

/**
 * Whether the fragment takes htmlparser2 deeper than MAX_OPEN_DEPTH: its open-element stack replayed
 * in linear time (a close tag pops up to the element it names, and is ignored when none is open).
 */
function exceedsOpenDepth(html: string): boolean {
  // `[^<>]` keeps every attempt within one tag: `<a <a <a …` without a `>` stays linear.
  const tag = /<(\/?)([a-zA-Z][\w-]*)[^<>]*?(\/?)>/g;
  const stack: string[] = [];
  const openCount = new Map<string, number>();
  let foreignDepth = 0;
  const pop = (): string => {
    const name = stack.pop()!;
    openCount.set(name, openCount.get(name)! - 1);
    if (FOREIGN_ELEMENTS.has(name)) foreignDepth -= 1;
    return name;
  };
  for (let match = tag.exec(html); match !== null; match = tag.exec(html)) {
    const name = match[2]!.toLowerCase();
    if (VOID_ELEMENTS.has(name)) continue;
    if (match[1] === '/') {
      if ((openCount.get(name) ?? 0) > 0) while (pop() !== name);
      continue;
    }
    const implied = IMPLIED_CLOSES.get(name);
    while (implied !== undefined && stack.length > 0 && implied.has(stack.at(-1)!)) pop();
    if (match[3] === '/' && foreignDepth > 0) continue;
    stack.push(name);
    openCount.set(name, (openCount.get(name) ?? 0) + 1);
    if (FOREIGN_ELEMENTS.has(name)) foreignDepth += 1;
    if (stack.length > MAX_OPEN_DEPTH) return true;
  }
  return false;
}

/** Resolves a URL attribute against the base; undefined when it is not an allowed absolute URL. */
function resolveUrlAttribute(value: string, baseUrl: string, schemes: Set<string>): string | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  let url: URL;
  try {
    url = new URL(trimmed, baseUrl);
  } catch {
    return undefined;
  }
  return schemes.has(url.protocol) ? url.href : undefined;
}

export interface SanitizeOptions {
  /** Last word on every URL kept (parse-feed uses it to take the source's secrets out of links). */
  rewriteUrl?: (url: string) => string;
}

function resolveUrls(tagName: string, attribs: sanitize.Attributes, baseUrl: string, options: SanitizeOptions): sanitize.Attributes {
  const schemes = tagName === 'a' || tagName === 'blockquote' || tagName === 'q' ? LINK_SCHEMES : MEDIA_SCHEMES;
  const resolved: sanitize.Attributes = {};
  for (const [name, value] of Object.entries(attribs)) {
    if (!URL_ATTRIBUTES.includes(name)) {
      resolved[name] = value;
      continue;
    }
    const url = resolveUrlAttribute(value, baseUrl, schemes);
    if (url !== undefined) resolved[name] = options.rewriteUrl ? options.rewriteUrl(url) : url;
  }
  return resolved;
}

function buildOptions(baseUrl: string, options: SanitizeOptions): sanitize.IOptions {
  return {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: ALLOWED_ATTRIBUTES,
    allowedClasses: { code: [/^language-[\w-]+$/], pre: [/^language-[\w-]+$/] },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: {
      img: ['http', 'https'],
      audio: ['http', 'https'],
      video: ['http', 'https'],
      source: ['http', 'https'],
      track: ['http', 'https'],
    },
    allowedSchemesAppliedToAttributes: URL_ATTRIBUTES,
    allowProtocolRelative: false,
    allowVulnerableTags: false,
    disallowedTagsMode: 'discard',
    nonTextTags: NON_TEXT_TAGS,
    // Void elements (HTML §13.1.2) among the allowed tags; the default list lacks source and track.
    selfClosing: ['br', 'col', 'hr', 'img', 'source', 'track', 'wbr'],
    nestingLimit: NESTING_LIMIT,
    parseStyleAttributes: false,
    // Feed HTML is a fragment; a stray <html> in it must not make us drop the text around it.
    enforceHtmlBoundary: false,
    // sanitize-html runs the tag's own transform first, then '*'.
    transformTags: {
      // Republished links must not hand the reader's window or referrer to the target.
      a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, rel: 'noopener noreferrer nofollow' } }),
      '*': (tagName, attribs) => ({ tagName, attribs: resolveUrls(tagName, attribs, baseUrl, options) }),
    },
    // A media element left without a source is an empty box; drop it (its children stay).
    exclusiveFilter: (frame) => (frame.tag === 'img' || frame.tag === 'source' || frame.tag === 'track') && !frame.attribs.src,
  };
}

/**
 * Cleans an upstream HTML fragment: formatting, links, images, lists, tables, code, figures and
 * audio/video survive; scripts, frames, forms, SVG, `on*` handlers, `style` and every non-http(s)
 * URL go, and MathML leaves its text only. Relative URLs are resolved against `baseUrl`. A fragment nested deeper than
 * any real page gives ''.
 */
export function sanitizeHtml(html: string, baseUrl: string, options: SanitizeOptions = {}): string {
  if (exceedsOpenDepth(html)) return '';
  return sanitize(html, buildOptions(baseUrl, options)).trim();
}

const TEXT_OPTIONS: sanitize.IOptions = {
  allowedTags: [],
  allowedAttributes: {},
  nonTextTags: NON_TEXT_TAGS,
  enforceHtmlBoundary: false,
  nestingLimit: NESTING_LIMIT,
};

// Elements that separate words when rendered; without a space "<p>a</p><p>b</p>" would read "ab".
const WORD_BREAK_TAG = /<(?=\/?(?:p|br|div|li|dt|dd|tr|td|th|h[1-6]|blockquote|pre|hr|section|article|header|footer|figcaption|img)\b)/gi;

// sanitize-html escapes exactly these in text; undoing them gives the text back.
const ESCAPED_TEXT: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"' };

/** Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed. */
export function htmlToText(html: string): string {
  if (exceedsOpenDepth(html)) return '';
  const escaped = sanitize(html.replace(WORD_BREAK_TAG, ' <'), TEXT_OPTIONS);
  return escaped
    .replace(/&(?:amp|lt|gt|quot);/g, (entity) => ESCAPED_TEXT[entity] ?? entity)
    .replace(/\s+/g, ' ')
    .trim();
}

/** Escapes plain text for use as HTML (text/plain summaries become HTML like every other field). */
export function textToHtml(text: string): string {
  return escapeText(text)
    .replace(/\r?\n\s*\r?\n/g, '<br><br>')
    .trim();
}
