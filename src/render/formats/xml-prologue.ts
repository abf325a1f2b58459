// What precedes the root element of the Atom and RSS documents.
import { escapeXml } from '../../text.js';

const DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';

/**
 * The XML declaration and, when there is a stylesheet, the xml-stylesheet instruction (W3C
 * "Associating Style Sheets with XML documents" §2), each on its own line. Its pseudo-attributes
 * take the predefined entities; `>` is escaped too, so no `?>` can end the instruction early.
 */
export function xmlPrologue(stylesheetUrl: string | undefined): string {
  if (stylesheetUrl === undefined) return DECLARATION;
  return `${DECLARATION}\n<?xml-stylesheet type="text/xsl" href="${escapeXml(stylesheetUrl)}"?>`;
}
