// Bytes → text for feeds: the byte order mark, then the Content-Type charset, then the XML
// encoding declaration decide (RFC 7303 §3, XML 1.0 Appendix F); bytes that are not what they
// claim, or claim nothing, are guessed by chardet (its only import). Never throws: undecodable
// bytes become U+FFFD.
import { analyse } from 'chardet';
import { isUtf8 } from 'node:buffer';

// charset=utf-8, charset="utf-8" and (what some servers send) charset='utf-8'.
const CHARSET_PARAM = /;\s*charset\s*=\s*["']?([^"';\s]+)/i;
const XML_ENCODING = /^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][\w.:-]*)["']/;

/** The WHATWG name of a charset label, or undefined when TextDecoder does not know it. */
function normaliseEncoding(label: string | undefined): string | undefined {
  if (label === undefined) return undefined;
  try {
    return new TextDecoder(label.trim()).encoding;
  } catch {
    return undefined;
  }
}

function sniffBom(bytes: Buffer): string | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  // "<?" in UTF-16 without a BOM (XML 1.0 Appendix F.1).
  if (bytes[0] === 0x3c && bytes[1] === 0x00 && bytes[2] === 0x3f && bytes[3] === 0x00) return 'utf-16le';
  if (bytes[0] === 0x00 && bytes[1] === 0x3c && bytes[2] === 0x00 && bytes[3] === 0x3f) return 'utf-16be';
  return undefined;
}

// Validated without decoding (node's isUtf8, simdutf): a fatal TextDecoder decoded every feed twice.
function isValidUtf8(bytes: Buffer): boolean {
  return isUtf8(bytes);
}

/** Chooses the encoding of a feed body; see the file comment for the order. */
export function detectEncoding(bytes: Buffer, contentType?: string): string {
  const bom = sniffBom(bytes);
  if (bom !== undefined) return bom;
  const fromHeader = normaliseEncoding(contentType?.match(CHARSET_PARAM)?.[1]);
  const fromDeclaration = normaliseEncoding(bytes.subarray(0, 512).toString('latin1').match(XML_ENCODING)?.[1]);
  if (fromHeader !== undefined && fromDeclaration !== undefined && fromHeader !== fromDeclaration) {
    // Servers stamp a default charset on every response far more often than documents lie about
    // their own: when one side says UTF-8 and the bytes are valid UTF-8, believe it — and when they
    // are not, the document's own word for them (a declaration read as ASCII names no UTF-16).
    if ((fromHeader === 'utf-8' || fromDeclaration === 'utf-8') && isValidUtf8(bytes)) return 'utf-8';
    if (fromHeader === 'utf-8' && !fromDeclaration.startsWith('utf-16') && !holdsUtf8Sequences(bytes)) return fromDeclaration;
  }
  const declared = fromHeader ?? fromDeclaration;
  // Declared UTF-8 that is not: a legacy encoding mislabelled (a CMS's template says UTF-8), or
  // UTF-8 with a stray byte. Unless chardet recognises another script, bytes holding no UTF-8
  // sequence at all are windows-1252 (what they are in the wild: decoded as UTF-8, every accented
  // letter was lost); UTF-8 with strays stays UTF-8, each stray one U+FFFD.
  if (declared === 'utf-8' && !isValidUtf8(bytes)) return guessEncoding(bytes) ?? (holdsUtf8Sequences(bytes) ? 'utf-8' : 'windows-1252');
  if (declared !== undefined) return declared;
  // Nothing declared: XML says UTF-8, but legacy feeds without a declaration are windows-1252
  // unless their bytes plainly say otherwise.
  return isValidUtf8(bytes) ? 'utf-8' : (guessEncoding(bytes) ?? 'windows-1252');
}

/**
 * Whether bytes that are not valid UTF-8 still hold UTF-8's multi-byte sequences (a stray byte in
 * UTF-8 text), anywhere: a long ASCII head says nothing. Only asked of bytes that failed isUtf8.
 */
function holdsUtf8Sequences(bytes: Buffer): boolean {
  return /[\u0080-\ufffc\ufffe\uffff]/.test(new TextDecoder('utf-8').decode(bytes));
}

// What a guess may switch to. Multi-byte encodings are recognised reliably by their byte
// sequences; of the single-byte ones only scripts that Latin-1 would turn into nonsense are taken,
// never one Latin variant for another (a short French text "looks" Romanian or Turkish too).
const MULTI_BYTE = new Set(['Big5', 'EUC-JP', 'EUC-KR', 'GB18030', 'Shift_JIS', 'ISO-2022-JP', 'ISO-2022-KR', 'ISO-2022-CN']);
const NON_LATIN_SINGLE_BYTE = new Set([
  'windows-874',
  'KOI8-R',
  'windows-1251',
  'ISO-8859-5',
  'ISO-8859-6',
  'windows-1256',
  'ISO-8859-7',
  'windows-1253',
  'ISO-8859-8',
  'windows-1255',
]);
// chardet's confidence (0–100) below which its best guess is not taken.
const MULTI_BYTE_CONFIDENCE = 50;
const SINGLE_BYTE_CONFIDENCE = 15;
// Enough text to tell; bounds the work on a large feed.
const GUESS_SAMPLE_BYTES = 64 * 1024;

/**
 * chardet's guess when it is one we trust (see above), as a WHATWG encoding name: its best guess if
 * multi-byte, else a non-Latin script it rates at least as high as any other reading.
 */
function guessEncoding(bytes: Buffer): string | undefined {
  const matches = analyse(bytes.subarray(0, GUESS_SAMPLE_BYTES));
  const best = matches[0];
  if (best === undefined) return undefined;
  if (MULTI_BYTE.has(best.name)) return best.confidence >= MULTI_BYTE_CONFIDENCE ? normaliseEncoding(best.name) : undefined;
  const script = matches.find((match) => NON_LATIN_SINGLE_BYTE.has(match.name) && match.confidence >= best.confidence);
  return script !== undefined && script.confidence >= SINGLE_BYTE_CONFIDENCE ? normaliseEncoding(script.name) : undefined;
}

// windows-1252 0x80–0x9F (WHATWG Encoding index); the five unassigned bytes map to the C1 control of
// the same number, as WHATWG does.
const WINDOWS_1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019,
  0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/**
 * Node 20's TextDecoder('windows-1252') decodes as ISO-8859-1 (checked on 20.20): curly quotes and
 * € come out as C1 controls. Latin-1 feeds are labelled with this encoding too, so decode it here.
 */
function decodeWindows1252(bytes: Buffer): string {
  const latin1 = bytes.toString('latin1');
  return latin1.replace(/[\x80-\x9f]/g, (c) => String.fromCharCode(WINDOWS_1252_HIGH[c.charCodeAt(0) - 0x80]!));
}

/** Decodes a feed body to text, BOM removed. */
export function decodeBody(body: Buffer | string, contentType?: string): string {
  if (typeof body === 'string') return body.replace(/^\uFEFF/, '');
  const encoding = detectEncoding(body, contentType);
  if (encoding === 'windows-1252') return decodeWindows1252(body);
  // Valid UTF-8 (the common case) decodes the same through Buffer, faster than a TextDecoder: the
  // one BOM TextDecoder drops and the stray one removed after it both come off here.
  if (encoding === 'utf-8' && isUtf8(body)) return body.toString('utf8').replace(/^\uFEFF{1,2}/, '');
  // TextDecoder drops a leading BOM itself; a stray one of another encoding is removed below.
  return new TextDecoder(encoding, { fatal: false }).decode(body).replace(/^\uFEFF/, '');
}
