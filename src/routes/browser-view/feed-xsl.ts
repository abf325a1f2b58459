// The XSLT 1.0 stylesheet our Atom and RSS documents name in their xml-stylesheet instruction: a
// browser that still runs XSLT (Firefox, Safari) shows the feed as a page instead of raw XML.
// Kept as a string so it ships inside dist/ (and the Docker image) with the code that serves it.
//
// Everything from the feed is written as text (xsl:value-of), never as markup: entries' HTML comes
// from strangers' feeds, and disable-output-escaping would run it in our origin. Summaries are
// shown with their tags dropped and the few entities our renderer writes decoded, still as text.
// Links are made only from http(s) URLs. No script: the URL to copy sits in a read-only field.

export const FEED_XSL = `<?xml version="1.0" encoding="utf-8"?>
<xsl:stylesheet version="1.0"
  xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:atom="http://www.w3.org/2005/Atom"
  exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="utf-8" doctype-system="about:legacy-compat" indent="yes"/>

  <!-- Longest summary shown, in characters of the document (markup included) and of text. -->
  <xsl:variable name="summarySource" select="1200"/>
  <xsl:variable name="summaryText" select="300"/>

  <xsl:variable name="isAtom" select="boolean(/atom:feed)"/>
  <!-- RFC 822 month names, three letters each: a month's number is its offset ÷ 3 + 1. -->
  <xsl:variable name="months" select="'JanFebMarAprMayJunJulAugSepOctNovDec'"/>
  <xsl:variable name="title">
    <xsl:choose>
      <xsl:when test="$isAtom"><xsl:value-of select="/atom:feed/atom:title"/></xsl:when>
      <!-- Our RSS text is plain text with what could read as markup escaped (formats/rss.ts rssText). -->
      <xsl:otherwise><xsl:call-template name="decode"><xsl:with-param name="text" select="/rss/channel/title"/></xsl:call-template></xsl:otherwise>
    </xsl:choose>
  </xsl:variable>
  <xsl:variable name="self">
    <xsl:choose>
      <xsl:when test="$isAtom"><xsl:value-of select="/atom:feed/atom:link[@rel='self']/@href"/></xsl:when>
      <xsl:otherwise><xsl:value-of select="/rss/channel/atom:link[@rel='self']/@href"/></xsl:otherwise>
    </xsl:choose>
  </xsl:variable>
  <!-- Our public URLs differ only in their extension: <token>.atom, .rss, .json. -->
  <xsl:variable name="extension">
    <xsl:choose>
      <xsl:when test="substring($self, string-length($self) - 4) = '.atom'">.atom</xsl:when>
      <xsl:when test="substring($self, string-length($self) - 3) = '.rss'">.rss</xsl:when>
    </xsl:choose>
  </xsl:variable>
  <xsl:variable name="base" select="substring($self, 1, string-length($self) - string-length($extension))"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="referrer" content="no-referrer"/>
        <title><xsl:value-of select="$title"/> (feed)</title>
        <link rel="stylesheet" href="feed.css"/>
      </head>
      <body>
        <header>
          <p class="badge">Feed</p>
          <h1><xsl:value-of select="$title"/></h1>
          <p class="help">This is a feed: paste its URL into your reader (NetNewsWire, Feedly, Miniflux, newsboat…) to subscribe. It updates by itself; there is nothing to install here.</p>
          <xsl:if test="$self != ''">
            <label class="copy">Feed URL
              <input type="text" readonly="readonly" value="{$self}"/>
            </label>
          </xsl:if>
          <xsl:if test="$extension != ''">
            <p class="formats">Also as
              <xsl:if test="$extension != '.atom'"><a href="{$base}.atom">Atom</a> · </xsl:if>
              <xsl:if test="$extension != '.rss'"><a href="{$base}.rss">RSS</a> · </xsl:if>
              <a href="{$base}.json">JSON Feed</a>
            </p>
          </xsl:if>
        </header>
        <main>
          <xsl:choose>
            <xsl:when test="$isAtom"><xsl:apply-templates select="/atom:feed/atom:entry"/></xsl:when>
            <!-- An RSS item carries one date, pubDate, its publication: the feed lists items by their
                 last update (merge.ts entryDate), so the page lists them by the date it shows. -->
            <xsl:otherwise>
              <xsl:apply-templates select="/rss/channel/item">
                <xsl:sort select="concat(substring(pubDate, 13, 4), format-number(string-length(substring-before($months, substring(pubDate, 9, 3))) div 3 + 1, '00'), substring(pubDate, 6, 2), translate(substring(pubDate, 18, 8), ':', ''))" order="descending"/>
              </xsl:apply-templates>
            </xsl:otherwise>
          </xsl:choose>
          <xsl:if test="not(/atom:feed/atom:entry) and not(/rss/channel/item)">
            <p class="empty">No entries yet.</p>
          </xsl:if>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <xsl:call-template name="entry">
      <!-- Our Atom titles are type="html": escaped plain text. -->
      <xsl:with-param name="title">
        <xsl:call-template name="decode"><xsl:with-param name="text" select="atom:title"/></xsl:call-template>
      </xsl:with-param>
      <xsl:with-param name="link" select="atom:link[not(@rel) or @rel='alternate'][1]/@href"/>
      <!-- The date the feed is sorted by (merge.ts entryDate), so the list reads as sorted. -->
      <xsl:with-param name="date" select="substring(atom:updated, 1, 10)"/>
      <xsl:with-param name="source" select="atom:source/atom:title"/>
      <xsl:with-param name="html" select="(atom:summary | atom:content[not(../atom:summary)])[1]"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template match="item">
    <xsl:call-template name="entry">
      <!-- Plain text with what could read as markup escaped (formats/rss.ts rssText, rssName). -->
      <xsl:with-param name="title">
        <xsl:call-template name="decode"><xsl:with-param name="text" select="title"/></xsl:call-template>
      </xsl:with-param>
      <xsl:with-param name="link" select="link"/>
      <!-- RFC 822 as our renderer writes it (Date.toUTCString, fixed width): "Fri, 01 Mar 2024
           10:00:00 GMT" → 2024-03-01, the form the Atom page shows. -->
      <xsl:with-param name="date">
        <xsl:if test="string-length(pubDate) &gt;= 16">
          <xsl:value-of select="concat(substring(pubDate, 13, 4), '-', format-number(string-length(substring-before($months, substring(pubDate, 9, 3))) div 3 + 1, '00'), '-', substring(pubDate, 6, 2))"/>
        </xsl:if>
      </xsl:with-param>
      <xsl:with-param name="source">
        <xsl:call-template name="decode"><xsl:with-param name="text" select="source"/></xsl:call-template>
      </xsl:with-param>
      <xsl:with-param name="html" select="description"/>
    </xsl:call-template>
  </xsl:template>

  <!-- Entries' HTML comes from strangers' feeds: it is shown as text (xsl:value-of, escaped by the
       serializer), never copied out as markup, which would run their scripts in our origin. -->
  <xsl:template name="entry">
    <xsl:param name="title"/>
    <xsl:param name="link"/>
    <xsl:param name="date"/>
    <xsl:param name="source"/>
    <xsl:param name="html"/>
    <article>
      <h2>
        <xsl:choose>
          <xsl:when test="starts-with($link, 'https://') or starts-with($link, 'http://')">
            <a href="{$link}" rel="noopener noreferrer"><xsl:value-of select="$title"/></a>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="$title"/></xsl:otherwise>
        </xsl:choose>
      </h2>
      <p class="meta">
        <xsl:if test="string($date) != ''"><time><xsl:value-of select="$date"/></time></xsl:if>
        <xsl:if test="string($source) != ''"> · from <span class="source"><xsl:value-of select="$source"/></span></xsl:if>
      </p>
      <xsl:variable name="text">
        <xsl:call-template name="strip-tags"><xsl:with-param name="html" select="substring($html, 1, $summarySource)"/></xsl:call-template>
      </xsl:variable>
      <xsl:variable name="summary" select="normalize-space($text)"/>
      <xsl:if test="$summary != ''">
        <p class="summary">
          <xsl:value-of select="substring($summary, 1, $summaryText)"/>
          <xsl:if test="string-length($summary) &gt; $summaryText or string-length($html) &gt; $summarySource">…</xsl:if>
        </p>
      </xsl:if>
    </article>
  </xsl:template>

  <!-- HTML to text: each tag becomes a space, the text between is decoded. -->
  <xsl:template name="strip-tags">
    <xsl:param name="html"/>
    <xsl:choose>
      <xsl:when test="contains($html, '&lt;')">
        <xsl:call-template name="decode"><xsl:with-param name="text" select="substring-before($html, '&lt;')"/></xsl:call-template>
        <xsl:text> </xsl:text>
        <xsl:call-template name="strip-tags"><xsl:with-param name="html" select="substring-after(substring-after($html, '&lt;'), '&gt;')"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="decode"><xsl:with-param name="text" select="$html"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Decodes the entities escaped text carries (&amp; &lt; &gt; &quot; &#39;), left to right, once. -->
  <xsl:template name="decode">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="contains($text, '&amp;')">
        <xsl:value-of select="substring-before($text, '&amp;')"/>
        <xsl:variable name="rest" select="substring-after($text, '&amp;')"/>
        <xsl:variable name="entity" select="substring-before($rest, ';')"/>
        <xsl:choose>
          <xsl:when test="$entity = 'amp'">&amp;</xsl:when>
          <xsl:when test="$entity = 'lt'">&lt;</xsl:when>
          <xsl:when test="$entity = 'gt'">&gt;</xsl:when>
          <xsl:when test="$entity = 'quot'">"</xsl:when>
          <xsl:when test="$entity = '#39' or $entity = 'apos'">'</xsl:when>
          <xsl:when test="$entity = 'nbsp'">&#160;</xsl:when>
          <xsl:otherwise>&amp;</xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="decode">
          <xsl:with-param name="text">
            <xsl:choose>
              <xsl:when test="contains('|amp|lt|gt|quot|#39|apos|nbsp|', concat('|', $entity, '|')) and $entity != ''">
                <xsl:value-of select="substring-after($rest, ';')"/>
              </xsl:when>
              <xsl:otherwise><xsl:value-of select="$rest"/></xsl:otherwise>
            </xsl:choose>
          </xsl:with-param>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
`;
