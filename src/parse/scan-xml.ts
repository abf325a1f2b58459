// Linear scans over XML text for the repairs (repair-xml.ts). Each reads what a regular expression
// such as `<!--[\s\S]*?-->|…` would match, but a backtracking engine retries such a pattern at every
// later start when a construct is never closed: a document of many unclosed `<!--`, `<?` or
// `<![CDATA[` cost time quadratic in its size (160 KB held the event loop 3 s). Here every search for
// a closing delimiter is made once: a delimiter not found after one position is not found after a
// later one either.

/** The first match at or after positions asked in increasing order, each stretch read once. */
class ForwardSearch {
  private askedFrom = -1;
  private found = -1;

  constructor(private readonly find: (from: number) => number) {}

  static of(text: string, needle: string): ForwardSearch {
    return new ForwardSearch((from) => text.indexOf(needle, from));
  }

  /** Index of the first match at or after `from` (never smaller than the last call's), or -1. */
  from(from: number): number {
    // The last answer is the first match after an earlier start: still the first after this one
    // unless it lies before it; none after an earlier start means none after this one.
    if (this.askedFrom !== -1 && from >= this.askedFrom && (this.found === -1 || this.found >= from)) return this.found;
    this.askedFrom = from;
    this.found = this.find(from);
    return this.found;
  }
}

const CDATA_OPEN = '<![CDATA[';
const CDATA_CLOSE = ']]>';

/**
 * Replaces every CDATA section (`<![CDATA[…]]>`, shortest match) with what `replace` makes of its
 * content, as `text.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, …)` would, in one pass.
 */
export function replaceCdataSections(text: string, replace: (content: string) => string): string {
  let out = '';
  let copied = 0;
  for (let open = text.indexOf(CDATA_OPEN); open !== -1; open = text.indexOf(CDATA_OPEN, copied)) {
    const close = text.indexOf(CDATA_CLOSE, open + CDATA_OPEN.length);
    // No close after this opening: none after a later one either.
    if (close === -1) break;
    out += text.slice(copied, open) + replace(text.slice(open + CDATA_OPEN.length, close));
    copied = close + CDATA_CLOSE.length;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Counts start tags of `localName` (any prefix) outside comments and CDATA sections, as a global
 * `<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<(?:[\w-]+:)?NAME[\s>]` scan counts its third alternative.
 */
export function countStartTagsOutsideComments(xml: string, candidates: RegExp): number {
  const commentClose = ForwardSearch.of(xml, '-->');
  const cdataClose = ForwardSearch.of(xml, CDATA_CLOSE);
  candidates.lastIndex = 0;
  let count = 0;
  for (let match = candidates.exec(xml); match !== null; match = candidates.exec(xml)) {
    const at = match.index;
    if (xml.startsWith('<!--', at)) {
      const close = commentClose.from(at + 4);
      // An unclosed comment hides nothing: the scan goes on just after its opening.
      candidates.lastIndex = close === -1 ? at + 1 : close + 3;
    } else if (xml.startsWith(CDATA_OPEN, at)) {
      const close = cdataClose.from(at + CDATA_OPEN.length);
      candidates.lastIndex = close === -1 ? at + 1 : close + CDATA_CLOSE.length;
    } else {
      count += 1;
    }
  }
  return count;
}

/** One token of `xmlTokens`: where it starts, its text, and the name of a close or start tag. */
export interface XmlToken {
  index: number;
  token: string;
  closing?: string;
  opening?: string;
}

const CLOSE_TAG = /<\/\s*([\w.:-]+)\s*>/y;
const START_TAG_NAME = /<([\w.:-]+)/y;
const ATTRIBUTE_STOP = /[>"']/g;

/**
 * The comments, CDATA sections, processing instructions, declarations, close tags and start tags of
 * a document, in order: what `matchAll` of
 * `<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<![^>]*>|<\/\s*([\w.:-]+)\s*>|<([\w.:-]+)(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?>`
 * yields, token for token (test/parse/scan-xml.test.ts compares the two), in time linear in the text.
 */
export function* xmlTokens(xml: string): Generator<XmlToken> {
  const commentClose = ForwardSearch.of(xml, '-->');
  const cdataClose = ForwardSearch.of(xml, CDATA_CLOSE);
  const instructionClose = ForwardSearch.of(xml, '?>');
  const declarationClose = ForwardSearch.of(xml, '>');
  const attributesEnd = attributeScanner(xml);
  let at = xml.indexOf('<');
  while (at !== -1) {
    let end = -1;
    let closing: string | undefined;
    let opening: string | undefined;
    if (xml.startsWith('<!', at)) {
      if (xml.startsWith('<!--', at)) end = endAfter(commentClose.from(at + 4), 3);
      if (end === -1 && xml.startsWith(CDATA_OPEN, at)) end = endAfter(cdataClose.from(at + CDATA_OPEN.length), 3);
      // An unclosed comment or CDATA section is read, as the pattern reads it, up to the next `>`.
      if (end === -1) end = endAfter(declarationClose.from(at + 2), 1);
    } else if (xml.startsWith('<?', at)) {
      end = endAfter(instructionClose.from(at + 2), 2);
    } else if (xml.startsWith('</', at)) {
      CLOSE_TAG.lastIndex = at;
      const close = CLOSE_TAG.exec(xml);
      if (close !== null) {
        end = CLOSE_TAG.lastIndex;
        closing = close[1];
      }
    } else {
      START_TAG_NAME.lastIndex = at;
      const start = START_TAG_NAME.exec(xml);
      if (start !== null) {
        const afterName = START_TAG_NAME.lastIndex;
        const next = xml[afterName];
        if (next === '>') end = afterName + 1;
        else if (next !== undefined && /\s/.test(next)) end = endAfter(attributesEnd(afterName + 1), 1);
        if (end !== -1) opening = start[1];
      }
    }
    if (end === -1) {
      at = xml.indexOf('<', at + 1);
      continue;
    }
    const token: XmlToken = { index: at, token: xml.slice(at, end) };
    if (closing !== undefined) token.closing = closing;
    if (opening !== undefined) token.opening = opening;
    yield token;
    at = xml.indexOf('<', end);
  }
}

function endAfter(found: number, length: number): number {
  return found === -1 ? -1 : found + length;
}

/**
 * For a start tag's attributes beginning at `from`: the index of the `>` that ends the tag (quoted
 * values may hold `>`), or -1 when a quote is never closed or no `>` follows. Every stretch between
 * two quotes or `>` is read once over all calls: the answer from each quote or `>` reached outside a
 * quoted value is kept, and scans from later tags that reach it stop there.
 */
function attributeScanner(xml: string): (from: number) => number {
  const endFromStop = new Map<number, number>();
  const nextStop = (from: number): number => {
    ATTRIBUTE_STOP.lastIndex = from;
    return ATTRIBUTE_STOP.exec(xml)?.index ?? -1;
  };
  // Tags come in increasing order, so one forward search finds the first stop after each name.
  const firstStop = new ForwardSearch(nextStop);
  return (from) => {
    const path: number[] = [];
    let end = -1;
    for (let stop = firstStop.from(from); stop !== -1;) {
      const known = endFromStop.get(stop);
      if (known !== undefined) {
        end = known;
        break;
      }
      if (xml[stop] === '>') {
        end = stop;
        break;
      }
      path.push(stop);
      const close = xml.indexOf(xml[stop]!, stop + 1);
      if (close === -1) break;
      stop = nextStop(close + 1);
    }
    for (const visited of path) endFromStop.set(visited, end);
    return end;
  };
}

const CHUNK_CHARACTERS = 32_768;
const LT = 60;
const GT = 62;
const DOUBLE_QUOTE = 34;
const SINGLE_QUOTE = 39;

/**
 * Whether fast-xml-parser would read more than `limit` characters in vain looking for the end of tags
 * that have none. Inside an element it reads raw (a title, a description), it reads each `<` that opens
 * no comment, CDATA section, instruction or close tag as a tag, looking for its `>` outside quotes up to
 * the end of the document; when there is none it moves on by one character and looks again from the
 * next `<` — a run of them, cut off or followed by one unmatched quote, cost time quadratic in its
 * length (128 K of `<` then `"`: 15 s). Answered without doing that work: first a bound from one pass
 * from the end (it counts every such `<`, also those inside a comment or CDATA section the parser
 * skips, so it is never below the parser's count); only past `limit` the parser's own walk, which
 * skips them, counts exactly.
 */
export function vainTagScanExceeds(xml: string, limit: number): boolean {
  if (scanFromEnd(xml) <= limit) return false;
  const unclosed = new Uint8Array(xml.length);
  scanFromEnd(xml, unclosed);
  return walkedInVain(xml, unclosed) > limit;
}

/**
 * From the end, whether a `>` outside quotes can be reached from each position, in each quote state:
 * answers what the parser would read in vain if every `<` it meets were read as a tag, and marks those
 * `<` in `unclosed` when given.
 */
function scanFromEnd(xml: string, unclosed?: Uint8Array): number {
  // From the position after the current one: reachable starting outside any quote, inside "…", inside '…'.
  let reachable = false;
  let reachableInDouble = false;
  let reachableInSingle = false;
  let wasted = 0;
  // Read through a buffer of UTF-16 code units, a chunk at a time: twice as fast as charCodeAt here.
  const units = new Uint16Array(Math.min(CHUNK_CHARACTERS, xml.length));
  const bytes = Buffer.from(units.buffer);
  for (let end = xml.length; end > 0; end -= CHUNK_CHARACTERS) {
    const start = Math.max(0, end - CHUNK_CHARACTERS);
    bytes.write(xml.slice(start, end), 'utf16le');
    for (let index = end - start - 1; index >= 0; index -= 1) {
      const code = units[index]!;
      // Letters and most text are above all four characters read here: passed over with one test.
      if (code > GT) continue;
      if (code === LT) {
        if (!reachable && !readOtherwise(xml, start + index)) {
          wasted += xml.length - (start + index);
          if (unclosed) unclosed[start + index] = 1;
        }
      } else if (code === GT) {
        reachable = true;
      } else if (code === DOUBLE_QUOTE) {
        const swapped: boolean = reachable;
        reachable = reachableInDouble;
        reachableInDouble = swapped;
      } else if (code === SINGLE_QUOTE) {
        const swapped: boolean = reachable;
        reachable = reachableInSingle;
        reachableInSingle = swapped;
      }
    }
  }
  return wasted;
}

/** Whether the parser reads the `<` at `at` as something other than a start tag: `</`, `<?`, `<!--` or `<![`. */
function readOtherwise(xml: string, at: number): boolean {
  // Past the end charCodeAt is NaN, which equals nothing.
  const next = xml.charCodeAt(at + 1);
  if (next === 47 || next === 63) return true;
  if (next !== 33) return false;
  const second = xml.charCodeAt(at + 2);
  return second === 91 || (second === 45 && xml.charCodeAt(at + 3) === 45);
}

/**
 * The parser's walk through a raw element's content, over the whole document (readStopNodeData in
 * fast-xml-parser): comments, CDATA sections, instructions and close tags are jumped over (one that
 * never ends stops the parse), a tag that ends is jumped over to its `>`, and a `<` marked in
 * `unclosed` costs the rest of the document and moves on by one character.
 */
function walkedInVain(xml: string, unclosed: Uint8Array): number {
  let wasted = 0;
  for (let at = xml.indexOf('<'); at !== -1;) {
    let end: number;
    if (xml.startsWith('<!--', at)) end = xml.indexOf('-->', at + 3);
    else if (xml.startsWith('<![', at)) end = xml.indexOf(']]>', at);
    else if (xml.startsWith('<?', at)) end = xml.indexOf('?>', at + 1);
    else if (xml.startsWith('</', at)) end = xml.indexOf('>', at);
    else if (unclosed[at] === 1) {
      wasted += xml.length - at;
      at = xml.indexOf('<', at + 1);
      continue;
    } else end = tagEnd(xml, at);
    if (end === -1) break;
    at = xml.indexOf('<', end + 1);
  }
  return wasted;
}

/** The `>` that ends the tag at `at`, outside quotes (one is known to exist: it is not marked unclosed). */
function tagEnd(xml: string, at: number): number {
  let quote = -1;
  for (let index = at + 1; index < xml.length; index += 1) {
    const code = xml.charCodeAt(index);
    if (quote !== -1) {
      if (code === quote) quote = -1;
    } else if (code === DOUBLE_QUOTE || code === SINGLE_QUOTE) quote = code;
    else if (code === GT) return index;
  }
  return -1;
}
