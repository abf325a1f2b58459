// Text in and out of markup, in one place: escaping for HTML and XML, the characters XML cannot
// carry, and HTML → plain text. Imports nothing, so parse/, render/, xml/ and routes/ share it.

/** Plain text → element text of HTML or XML (`&`, `<`, `>`); quotes are left as they are. */
export function escapeText(text: string): string {
  return text.replace(/[&<>]/g, (char) => ESCAPES[char]!);
}

/** Plain text → XML element text or a double-quoted attribute value. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => ESCAPES[char]!);
}

/**
 * Plain text → a double-quoted XML attribute value: `&`, `<`, `"` (XML 1.0 §2.3 AttValue; `>` may
 * stand). Not escapeXml: the Atom and RSS writers keep the bytes `feed` wrote before them, `>` raw in
 * attributes, so a feed's published ETag did not change with the writer — escaping `>` here would.
 */
export function escapeAttribute(text: string): string {
  return text.replace(/[&<"]/g, (char) => ESCAPES[char]!);
}

/**
 * Text → XML CDATA (§2.7): one section, closed and reopened wherever the text holds `]]>` (which
 * would end it), so a parser reads back exactly the text.
 */
export function cdataSection(text: string): string {
  return `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/** Plain text → HTML text or attribute value (both quotes escaped). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Characters XML 1.0 (§2.2 Char) cannot carry at all, escaped or not: C0 controls but tab, LF and
 * CR; U+FFFE and U+FFFF; and surrogates that are not half of a pair (a lone surrogate is no
 * character; encoded as UTF-8 it becomes U+FFFD or an encoder error).
 */
const XML_INVALID =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The text without the characters XML cannot carry (see XML_INVALID). */
export function stripXmlInvalid(text: string): string {
  return text.replace(XML_INVALID, '');
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/**
 * HTML → plain text, for what has to be plain: filter matching and JSON Feed's `summary`. Tags
 * out, common entities decoded, whitespace collapsed. The HTML was sanitised by parse/, so every
 * tag is a plain `<…>`; the result is for matching and short summaries, not for display.
 */
export function plainTextOf(html: string): string {
  // No tag starts after the last `>`: the pattern is not tried there, where each `<` would read to
  // the end (quadratic in a text of many `<`).
  const tagsEnd = html.lastIndexOf('>') + 1;
  return decodeCommonEntities(html.slice(0, tagsEnd).replace(/<[^>]*>/g, ' ') + html.slice(tagsEnd))
    .replace(/\s+/g, ' ')
    .trim();
}

/** Numeric references and the common named entities (NAMED_ENTITIES) → characters; others stay as written. */
export function decodeCommonEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,6});/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (lower.startsWith('#')) {
      const code = lower.startsWith('#x') ? Number.parseInt(lower.slice(2), 16) : Number.parseInt(lower.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[lower] ?? whole;
  });
}
