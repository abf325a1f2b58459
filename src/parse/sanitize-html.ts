// The only import of sanitize-html. Upstream HTML is hostile until proven otherwise: whatever
// leaves this file is republished to feed readers and aggregator pages that render it.
import sanitize from 'sanitize-html';
// sanitize-html's own parser's tokenizer, for the replay of its element stack (exceedsStackWork).
import { Tokenizer } from 'htmlparser2';
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
// htmlparser2 (sanitize-html's parser) keeps its open elements in an array it unshifts, shifts and
// searches on every tag: its work grows with the depth at each tag, quadratic in a fragment that only
// opens (100 000 nested <div>s, or <a></b> repeated, took seconds). So that stack is replayed first,
// in linear time, on htmlparser2's own tokenizer (the same tags, names and quoting the parser sees)
// with the parser's rules (HtmlStackReplay below), and a fragment whose stack work — the depth at
// every push and pop, and at every search for an element not open — passes its budget is hostile
// and dropped whole. The budget grows with the fragment, so a document's fragments together cost
// time linear in its size: STACK_WORK_PER_CHARACTER a character (one unit ≈ 2.4 ns of the parser's
// time here), and at least MIN_STACK_WORK (≈ 25 ms: 2,000 nested elements and more). Real content is far
// below it: a depth of tens, a tag every few characters.
const STACK_WORK_PER_CHARACTER = 100;
const MIN_STACK_WORK = 10_000_000;
type TokenizerCallbacks = ConstructorParameters<typeof Tokenizer>[1];
// htmlparser2's tables (Parser.js), for the replay.
const VOID_ELEMENTS = new Set(
  'area base basefont br col command embed frame hr img input isindex keygen link meta param source track wbr'.split(' '),
);
const FOREIGN_CONTEXT_ELEMENTS = new Set(['math', 'svg']);
const HTML_INTEGRATION_ELEMENTS = new Set(['mi', 'mo', 'mn', 'ms', 'mtext', 'annotation-xml', 'foreignobject', 'desc', 'title']);
const P_TAG = new Set(['p']);
const FORM_TAGS = new Set(['input', 'option', 'optgroup', 'select', 'button', 'datalist', 'textarea']);
const TABLE_SECTION_TAGS = new Set(['thead', 'tbody']);
const DD_DT_TAGS = new Set(['dd', 'dt']);
const RT_RP_TAGS = new Set(['rt', 'rp']);
const OPEN_IMPLIES_CLOSE = new Map<string, ReadonlySet<string>>([
  ['tr', new Set(['tr', 'th', 'td'])],
  ['th', new Set(['th'])],
  ['td', new Set(['thead', 'th', 'td'])],
  ['body', new Set(['head', 'link', 'script'])],
  ['li', new Set(['li'])],
  ...'p h1 h2 h3 h4 h5 h6 address article aside blockquote details div dl fieldset figcaption figure footer form header hr main nav ol pre section table ul'
    .split(' ')
    .map((name): [string, ReadonlySet<string>] => [name, P_TAG]),
  ...'select input output button datalist textarea'.split(' ').map((name): [string, ReadonlySet<string>] => [name, FORM_TAGS]),
  ['option', new Set(['option'])],
  ['optgroup', new Set(['optgroup', 'option'])],
  ['dd', DD_DT_TAGS],
  ['dt', DD_DT_TAGS],
  ['rt', RT_RP_TAGS],
  ['rp', RT_RP_TAGS],
  ['tbody', TABLE_SECTION_TAGS],
  ['tfoot', TABLE_SECTION_TAGS],
]);

/**
 * htmlparser2's Parser in HTML mode, reduced to its element stack (emitOpenTag, onselfclosingtag,
 * closeCurrentTag, onclosetag), with the open elements counted by name so that finding one is O(1):
 * the work the real parser's array operations would do, summed, without doing it.
 */
class HtmlStackReplay implements Partial<TokenizerCallbacks> {
  /** Stack work so far: the depth at every push and pop (of both arrays), and at every search for an element not open. */
  work = 0;
  private readonly stack: string[] = [];
  private readonly openByName = new Map<string, number>();
  private readonly foreignContext: boolean[] = [false];
  private tagname = '';

  constructor(private readonly html: string) {}

  onopentagname(start: number, endIndex: number): void {
    this.emitOpenTag(this.html.slice(start, endIndex).toLowerCase());
  }

  onopentagend(): void {
    this.tagname = '';
  }

  onselfclosingtag(): void {
    // In HTML `<div/>` opens a div; only inside SVG or MathML does `/>` close the element.
    if (this.foreignContext.at(-1) && this.stack.at(-1) === this.tagname) this.pop();
    this.tagname = '';
  }

  onclosetag(start: number, endIndex: number): void {
    const name = this.html.slice(start, endIndex).toLowerCase();
    // The parser shifts its foreign-context array on any such close, matched or not.
    if ((FOREIGN_CONTEXT_ELEMENTS.has(name) || HTML_INTEGRATION_ELEMENTS.has(name)) && this.foreignContext.length > 0) {
      this.work += this.foreignContext.length;
      this.foreignContext.pop();
    }
    if (VOID_ELEMENTS.has(name)) return;
    if ((this.openByName.get(name) ?? 0) > 0) {
      while (this.pop() !== name);
      return;
    }
    // Not open: the parser searched its whole stack for it.
    this.work += this.stack.length;
    if (name === 'p') {
      // `</p>` with no open <p> is an empty paragraph: opened and closed at once.
      this.emitOpenTag('p');
      if (this.stack.at(-1) === 'p') this.pop();
    }
  }

  private emitOpenTag(name: string): void {
    this.tagname = name;
    const impliesClose = OPEN_IMPLIES_CLOSE.get(name);
    while (impliesClose !== undefined && this.stack.length > 0 && impliesClose.has(this.stack.at(-1)!)) this.pop();
    if (VOID_ELEMENTS.has(name)) return;
    this.stack.push(name);
    this.openByName.set(name, (this.openByName.get(name) ?? 0) + 1);
    this.work += this.stack.length;
    // The parser keeps a second array the same way (unshift, shift): its work counts too. `<svg/>`
    // inside <svg> pops the element but never this array, which grows by one each time.
    if (FOREIGN_CONTEXT_ELEMENTS.has(name)) this.work += this.foreignContext.push(true);
    else if (HTML_INTEGRATION_ELEMENTS.has(name)) this.work += this.foreignContext.push(false);
  }

  private pop(): string {
    this.work += this.stack.length;
    const name = this.stack.pop()!;
    this.openByName.set(name, this.openByName.get(name)! - 1);
    return name;
  }
}

/** Whether htmlparser2's element stack work on this fragment passes the fragment's budget. */
function exceedsStackWork(html: string): boolean {
  const budget = Math.max(MIN_STACK_WORK, STACK_WORK_PER_CHARACTER * html.length);
  const replay = new HtmlStackReplay(html);
  const noop = () => undefined;
  const tokenizer = new Tokenizer(
    { decodeEntities: true },
    {
      onattribdata: noop,
      onattribentity: noop,
      onattribend: noop,
      onattribname: noop,
      oncdata: noop,
      oncomment: noop,
      ondeclaration: noop,
      onend: noop,
      onprocessinginstruction: noop,
      ontext: noop,
      ontextentity: noop,
      onopentagname: (start, endIndex) => {
        replay.onopentagname(start, endIndex);
        if (replay.work > budget) tokenizer.pause();
      },
      onopentagend: () => replay.onopentagend(),
      onselfclosingtag: () => replay.onselfclosingtag(),
      onclosetag: (start, endIndex) => {
        replay.onclosetag(start, endIndex);
        if (replay.work > budget) tokenizer.pause();
      },
    },
  );
  tokenizer.write(html);
  tokenizer.end();
  return replay.work > budget;
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
  if (exceedsStackWork(html)) return '';
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
  if (exceedsStackWork(html)) return '';
  const escaped = sanitize(html.replace(WORD_BREAK_TAG, ' <'), TEXT_OPTIONS);
  return escaped
    .replace(/&(?:amp|lt|gt|quot);/g, (entity) => ESCAPED_TEXT[entity] ?? entity)
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Escapes plain text for use as HTML (text/plain summaries become HTML like every other field). Its
 * line breaks stay breaks: a blank line (a paragraph's end) as two `<br>`, a single line break as one
 * (YouTube's chapter lists, JSON Feed's content_text), which HTML would otherwise show as a space.
 */
export function textToHtml(text: string): string {
  return escapeText(text.trim())
    .replace(/\r\n?/g, '\n')
    .replace(/\n\s*\n/g, '<br><br>')
    .replace(/\n/g, '<br>');
}
