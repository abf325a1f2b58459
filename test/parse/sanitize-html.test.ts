import { describe, expect, it } from 'vitest';
import { htmlToText, sanitizeHtml } from '../../src/parse/index.js';

const BASE = 'https://blog.example.org/posts/2024/entry.html';

function expectHarmless(output: string): void {
  expect(output).not.toMatch(/<script/i);
  expect(output).not.toMatch(/\son\w+\s*=/i);
  expect(output).not.toMatch(/javascript:|vbscript:|data:/i);
  expect(output).not.toMatch(/<(iframe|frame|object|embed|applet|svg|math|form|input|button|style|link|meta|base)\b/i);
  expect(output).not.toMatch(/\sstyle\s*=/i);
}

// Vectors from the OWASP XSS Filter Evasion Cheat Sheet and friends.
const XSS_VECTORS: Array<[string, string]> = [
  ['script tag', '<script>alert(1)</script>'],
  ['script with src', '<SCRIPT SRC=https://evil.example/xss.js></SCRIPT>'],
  ['script split by malformed tag', '<SCR<script>IPT>alert(1)</SCR</script>IPT>'],
  ['img onerror', '<img src=x onerror=alert(1)>'],
  ['img onerror without quotes or spaces', '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>'],
  ['javascript: href', '<a href="javascript:alert(1)">x</a>'],
  ['mixed case javascript:', '<a href="JaVaScRiPt:alert(1)">x</a>'],
  ['tab inside javascript:', '<IMG SRC="jav\tascript:alert(\'XSS\');">'],
  ['encoded tab inside javascript:', '<IMG SRC="jav&#x09;ascript:alert(\'XSS\');">'],
  ['encoded newline inside javascript:', '<a href="jav&#x0A;ascript:alert(1)">x</a>'],
  [
    'decimal entities javascript:',
    '<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>',
  ],
  ['leading space and control char', '<a href=" &#14;  javascript:alert(1)">x</a>'],
  ['vbscript:', '<a href="vbscript:msgbox(1)">x</a>'],
  ['data: html link', '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'],
  ['data: svg image', '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">'],
  ['iframe', '<iframe src="https://evil.example/"></iframe>'],
  ['iframe srcdoc', '<iframe srcdoc="<script>alert(1)</script>"></iframe>'],
  ['svg onload', '<svg onload=alert(1)><circle r=5 /></svg>'],
  ['svg script', '<svg><script>alert(1)</script></svg>'],
  ['math with script', '<math><mtext><script>alert(1)</script></mtext></math>'],
  ['style attribute expression', '<p style="width: expression(alert(1))">x</p>'],
  ['style attribute url', '<div style="background:url(javascript:alert(1))">x</div>'],
  ['style element', '<style>body{background:url("javascript:alert(1)")}</style>'],
  ['meta refresh', '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'],
  ['base href', '<base href="javascript:alert(1)//">'],
  ['link stylesheet', '<link rel="stylesheet" href="javascript:alert(1)">'],
  ['object', '<object data="https://evil.example/x.swf"></object>'],
  ['embed', '<embed src="https://evil.example/x.swf">'],
  ['form', '<form action="https://evil.example/"><input name=p><button>go</button></form>'],
  ['body onload', '<body onload=alert(1)>'],
  ['conditional comment', '<!--[if gte IE 4]><SCRIPT>alert(1);</SCRIPT><![endif]-->'],
  ['video poster and handler', '<video src="https://m.example/v.mp4" poster="javascript:alert(1)" onplay="alert(1)"></video>'],
  ['details ontoggle', '<details open ontoggle=alert(1)><summary>x</summary></details>'],
  ['malformed quotes', '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>'],
  ['unclosed script', '<script>alert(1)'],
  ['noscript escape', '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'],
  ['html entity in handler name', '<img src=x o&#110;error=alert(1)>'],
];

describe('sanitizeHtml', () => {
  it.each(XSS_VECTORS)('neutralises %s', (_label, vector) => {
    expectHarmless(sanitizeHtml(vector, BASE));
  });

  it.each([
    ['object', 'safe<object classid="clsid:C932BA85-4374-101B-A56C-00AA003668DC"> <b>description</b></object>', 'safe <b>description</b>'],
    ['unclosed object', 'safe<object data="https://evil.example/x.swf"> description', 'safe description'],
    ['applet', 'safe<applet code="x.class"><param name="a" value="b"> description</applet>', 'safe description'],
    ['iframe', 'safe<iframe src="https://evil.example/"> <b>description</b><script>alert(1)</script></iframe>', 'safe <b>description</b>'],
  ])('keeps the fallback content of an %s, not the element', (_label, html, expected) => {
    const output = sanitizeHtml(html, BASE);
    expectHarmless(output);
    expect(output).toBe(expected);
  });

  it('keeps benign formatting, lists, tables, code, figures and media', () => {
    const html = [
      '<h2>Title</h2><p>Some <strong>bold</strong>, <em>em</em>, <code class="language-ts">let x</code>.</p>',
      '<ul><li>one</li><li>two</li></ul><ol start="3"><li>three</li></ol>',
      '<blockquote cite="https://quote.example/">quoted</blockquote>',
      '<table><thead><tr><th scope="col">h</th></tr></thead><tbody><tr><td colspan="2">c</td></tr></tbody></table>',
      '<figure><img src="https://img.example/a.png" alt="a" width="10" height="20"><figcaption>cap</figcaption></figure>',
      '<pre><code>x &lt; y</code></pre>',
      '<audio src="https://media.example/a.mp3" controls></audio>',
      '<video controls><source src="https://media.example/v.webm" type="video/webm"></video>',
    ].join('');
    const out = sanitizeHtml(html, BASE);
    expectHarmless(out);
    for (const kept of [
      '<h2>Title</h2>',
      '<strong>bold</strong>',
      '<em>em</em>',
      '<code class="language-ts">let x</code>',
      '<ul><li>one</li><li>two</li></ul>',
      '<ol start="3">',
      '<blockquote cite="https://quote.example/">quoted</blockquote>',
      '<th scope="col">h</th>',
      '<td colspan="2">c</td>',
      '<img src="https://img.example/a.png" alt="a" width="10" height="20" />',
      '<figcaption>cap</figcaption>',
      '<pre><code>x &lt; y</code></pre>',
      '<audio src="https://media.example/a.mp3" controls></audio>',
      '<source src="https://media.example/v.webm" type="video/webm" />',
    ]) {
      expect(out).toContain(kept);
    }
  });

  it('resolves relative href and src against the base and marks links noopener', () => {
    const out = sanitizeHtml('<a href="../about">a</a> <a href="/x?y=1#z">b</a> <img src="pic.jpg"> <a href="//cdn.example/f">c</a>', BASE);
    expect(out).toContain('<a href="https://blog.example.org/posts/about" rel="noopener noreferrer nofollow">a</a>');
    expect(out).toContain('<a href="https://blog.example.org/x?y=1#z" rel="noopener noreferrer nofollow">b</a>');
    expect(out).toContain('<img src="https://blog.example.org/posts/2024/pic.jpg" />');
    expect(out).toContain('href="https://cdn.example/f"');
  });

  it('replaces an upstream rel and drops target, keeps mailto links', () => {
    const out = sanitizeHtml('<a href="https://x.example/" rel="opener" target="_blank">x</a><a href="mailto:a@b.example">m</a>', BASE);
    expect(out).toBe(
      '<a href="https://x.example/" rel="noopener noreferrer nofollow">x</a><a href="mailto:a@b.example" rel="noopener noreferrer nofollow">m</a>',
    );
  });

  it('drops classes other than code languages, and images left without a source', () => {
    expect(sanitizeHtml('<p class="evil">x</p><img alt="no src"><img src="javascript:alert(1)" alt="bad">', BASE)).toBe('<p>x</p>');
  });

  it('applies rewriteUrl to every URL it keeps', () => {
    const out = sanitizeHtml('<a href="/a?token=s3cr3t">a</a>', BASE, { rewriteUrl: (url) => url.replace('s3cr3t', 'X') });
    expect(out).toContain('href="https://blog.example.org/a?token=X"');
  });

  it('gives up on absurdly deep nesting instead of spending seconds on it', () => {
    expect(sanitizeHtml('<span>'.repeat(100_000) + 'x', BASE)).toBe('');
    // Unclosed paragraphs and list items are ordinary sloppy HTML, not nesting.
    expect(sanitizeHtml('<p>x'.repeat(5000), BASE)).toContain('<p>x</p>');
  });
});

describe('htmlToText', () => {
  it.each([
    ['<b>Bold</b> &amp; <i>brave</i>', 'Bold & brave'],
    ['<script>alert(1)</script>Hello', 'Hello'],
    ['<p>one</p><p>two</p>', 'one two'],
    ['line<br>break', 'line break'],
    ['  lots \n of\t\tspace ', 'lots of space'],
    ['&lt;not a tag&gt; &quot;q&quot; &#9733; &eacute;', '<not a tag> "q" ★ é'],
    ['x < y and y > z', 'x < y and y > z'],
    ['<style>p{}</style><svg><text>svg</text></svg>Text', 'Text'],
    ['', ''],
  ])('%j → %j', (html, text) => {
    expect(htmlToText(html)).toBe(text);
  });
});

describe('unclosed tags (the nesting guard must stay linear)', () => {
  it(
    'sanitises 600 KB of `<a <a <a …` without a closing `>` (quadratic before: seconds of blocked event loop)',
    { timeout: 10_000 },
    () => {
      const hostile = '<a '.repeat(200_000); // 600 KB: the quadratic guard took ~25 s on this
      expect(typeof sanitizeHtml(hostile, 'https://example.org/')).toBe('string');
      expect(typeof htmlToText(hostile)).toBe('string');
    },
  );
});
