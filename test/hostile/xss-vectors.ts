// Vectors from the OWASP XSS Filter Evasion Cheat Sheet (cheatsheetseries.owasp.org), one per
// technique: script tags in odd spellings, event handlers, javascript:/vbscript:/data: URLs with
// encodings and whitespace tricks, CSS expressions, SVG/MathML, frames, forms, meta refresh, base.
export const XSS_VECTORS: string[] = [
  '<SCRIPT SRC=https://cdn.jsdelivr.net/gh/Moksh45/host-xss.rocks/index.js></SCRIPT>',
  "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
  '<IMG SRC="javascript:alert(\'XSS\');">',
  "<IMG SRC=javascript:alert('XSS')>",
  "<IMG SRC=JaVaScRiPt:alert('XSS')>",
  '<IMG SRC=`javascript:alert("RSnake says, \'XSS\'")`>',
  '<a onmouseover="alert(document.cookie)">xxs link</a>',
  '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
  '<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>',
  '<IMG SRC=# onmouseover="alert(\'xxs\')">',
  '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
  '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
  '<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>',
  '<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>',
  '<IMG SRC="jav\tascript:alert(\'XSS\');">',
  '<IMG SRC="jav&#x09;ascript:alert(\'XSS\');">',
  '<IMG SRC="jav&#x0A;ascript:alert(\'XSS\');">',
  '<IMG SRC=" &#14;  javascript:alert(\'XSS\');">',
  '<SCRIPT/XSS SRC="http://xss.rocks/xss.js"></SCRIPT>',
  '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
  '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
  '<SCRIPT SRC=http://xss.rocks/xss.js?< B >',
  '<IMG SRC="`<javascript:alert>`(\'XSS\')"',
  '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
  '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
  '<BODY BACKGROUND="javascript:alert(\'XSS\')">',
  '<IMG DYNSRC="javascript:alert(\'XSS\')">',
  '<STYLE>li {list-style-image: url("javascript:alert(\'XSS\')");}</STYLE><UL><LI>XSS</br>',
  "<svg/onload=alert('XSS')>",
  '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
  '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K">',
  '<IFRAME SRC="javascript:alert(\'XSS\');"></IFRAME>',
  '<FRAMESET><FRAME SRC="javascript:alert(\'XSS\');"></FRAMESET>',
  '<TABLE BACKGROUND="javascript:alert(\'XSS\')">',
  '<DIV STYLE="background-image: url(javascript:alert(\'XSS\'))">',
  '<DIV STYLE="width: expression(alert(\'XSS\'));">',
  '<IMG STYLE="xss:expr/*XSS*/ession(alert(\'XSS\'))">',
  '<BASE HREF="javascript:alert(\'XSS\');//">',
  '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.rocks/scriptlet.html"></OBJECT>',
  '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==" type="image/svg+xml" AllowScriptAccess="always"></EMBED>',
  '<a href="vbscript:msgbox(\'XSS\')">vb</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
  '<a href="&#1;javascript:alert(1)">ctl</a>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<form action="javascript:alert(1)"><button>go</button></form>',
  '<details open ontoggle=alert(1)>',
  '<video><source onerror="alert(1)"></video>',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  '<a href="  javascript:alert(1)">spaces</a>',
  '<a href="java&#0000115;cript:alert(1)">entity</a>',
];

/** What must never be in a published feed once its XML or JSON encoding is undone. */
const ACTIVE_CONTENT: RegExp[] = [
  /<\s*\/?\s*(script|iframe|frame|frameset|object|embed|applet|form|input|button|meta|base|link|style|svg|math|body|textarea|xmp)\b/i,
  /<[a-z][^<>]*\s(on[a-z]+|style|dynsrc|lowsrc)\s*=/i,
  /<[^<>]*\s(href|src|action|formaction|poster|cite|background)\s*=\s*["']?\s*(javascript|vbscript|data|livescript):/i,
  /^url="\s*(?!https?:|mailto:)/im,
];

/**
 * Every field value of a published Atom/RSS document with one level of XML escaping undone, as
 * one string: CDATA sections as they are, the document's own tags dropped, text unescaped. The
 * URLs in the document's own attributes come as `url="…"` lines, so a scheme check sees them.
 */
export function fieldValuesOfXml(xml: string): string {
  const cdata: string[] = [];
  const withoutCdata = xml.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_m, inner: string) => {
    cdata.push(inner);
    return ' ';
  });
  const urls = [...withoutCdata.matchAll(/\s(?:href|url|src)="([^"]*)"/g)].map((match) => `url="${unescapeXml(match[1]!)}"`);
  const text = unescapeXml(withoutCdata.replace(/<[^>]*>/g, ' '));
  return [text, ...cdata, ...urls].join('\n');
}

/**
 * The HTML and URL values of a JSON Feed, one per line. title, summary, content_text, tags and
 * names are plain text by the JSON Feed 1.1 spec (a reader shows "<b>" in them as text), so they
 * are left out: a title that *talks about* <script> is not active content.
 */
export function fieldValuesOfJson(json: string): string {
  const values: string[] = [];
  JSON.parse(json, (key, value: unknown) => {
    if (typeof value !== 'string') return value;
    if (/^(url|external_url|image|banner_image|icon|favicon|home_page_url|feed_url|next_url)$/.test(key)) values.push(`url="${value}"`);
    else if (key === 'content_html') values.push(value);
    return value;
  });
  return values.join('\n');
}

function unescapeXml(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&(lt|gt|quot|apos|amp);/g, (_m, name: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[name]!);
}

/** The first active-content match in `html`, or undefined. */
export function findActiveContent(html: string): string | undefined {
  for (const pattern of ACTIVE_CONTENT) {
    const match = pattern.exec(html);
    if (match) return `${pattern.source}: …${html.slice(Math.max(0, match.index - 80), match.index + match[0].length + 40)}…`;
  }
  return undefined;
}
