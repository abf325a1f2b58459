// The differential check of issue 15: a folder of feeds, each served as a tokenised upstream, added
// as a source of the real app, published as a single-source feed, and read back in Atom, RSS and
// JSON. Universal Feed Parser reads the original and each output; the entries are compared one by
// one, field by field. Shared by test/interop/fidelity.test.ts (the fixtures, in CI) and
// test/interop/corpus.ts (`npm run corpus -- DIR`, for public corpora kept out of the repository).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { MAX_FEED_LIMIT } from '../../src/services/feeds.js';
import { classifyDifference, classifyRefusal } from './classify.js';
import { SYSTEM_PYTHON, isolatedEnv, run } from './tools.js';

export const OUTPUT_FORMATS = ['atom', 'rss', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export const FIELDS = ['entries', 'titles', 'links', 'dates', 'authors', 'enclosures', 'text'] as const;
export type Field = (typeof FIELDS)[number];

/** The secret every upstream URL carries: it must not reach a published feed. */
/** The largest limit a feed takes (services/feeds.ts MAX_FEED_LIMIT); the differential feeds use it. */
const FEED_LIMIT = MAX_FEED_LIMIT;

/** A corpus is thousands of sources and feeds added by one user in a minute or two. */
const CORPUS_LIMITS = {
  FEEDPROXY_MAX_SOURCES_PER_USER: '100000',
  FEEDPROXY_MAX_FEEDS_PER_USER: '10000',
  FEEDPROXY_API_RATE_LIMIT: '1000000',
  FEEDPROXY_PUBLIC_RATE_LIMIT: '1000000',
};

export const UPSTREAM_TOKEN = 'DiffT0kenQ7vLm2Xc9Rp4Zs8Wd1';

/** What feedparser reads from one document, made comparable (see READER_SCRIPT). */
interface Reading {
  error?: string;
  bozo: boolean;
  version: string;
  entries: ReadEntry[];
}

export interface ReadEntry {
  /** The entry's id (Atom id, RSS guid, JSON Feed id), as the reader saw it. */
  id: string | null;
  title: string | null;
  link: string | null;
  /** feedparser's guidislink: it made the link of the id (an Atom id or a guid), there being no link. */
  linkIsId: boolean;
  /** Unix seconds of published and updated, as feedparser parsed them. */
  dates: number[];
  /** published and updated as the document writes them. */
  rawDates: string[];
  authors: string[];
  enclosures: Array<{ url: string; type: string | null; length: number | null }>;
  /** The text a reader shows: content, else summary; tags out, entities decoded, whitespace collapsed. */
  text: string | null;
}

// One python process for every document: feedparser for XML, a mapping of the same fields for JSON
// Feed (Debian's feedparser 6.0 has no JSON parser). Titles and text are what a reader shows.
const READER_SCRIPT = String.raw`
import calendar, html, json, re, sys
import feedparser
from feedparser.datetimes import _parse_date

def shown(value, kind):
    if value is None:
        return None
    if kind in ("text/html", "application/xhtml+xml", "html", "xhtml"):
        # What a browser shows: no comments, scripts, styles, document head or MathML annotations (TeX source).
        value = re.sub(r"<!--.*?-->|<(script|style|head|annotation|annotation-xml)\b.*?</\1\s*>", " ", value, flags=re.S | re.I)
        value = html.unescape(re.sub(r"<[^>]*>", " ", value))
    value = re.sub(r"\s+", " ", value).strip()
    return value or None

def seconds(parsed):
    return calendar.timegm(parsed) if parsed else None

def xml_entry(e):
    text = None
    for c in e.get("content", []) or []:
        text = shown(c.get("value"), c.get("type"))
        if text:
            break
    if not text:
        detail = e.get("summary_detail") or {}
        text = shown(e.get("summary"), detail.get("type", "text/html"))
    authors = []
    for a in e.get("authors", []) or []:
        for key in ("name", "email"):
            if a.get(key):
                authors.append(a[key])
    # feedparser 6.0 splits a bare e-mail address in an RSS <author> oddly; its author string is right.
    if e.get("author"):
        authors.append(e["author"])
    title_detail = e.get("title_detail") or {}
    return {
        "id": e.get("id"),
        "title": shown(e.get("title"), title_detail.get("type")),
        "link": e.get("link"),
        "linkIsId": bool(e.get("guidislink")),
        "dates": [s for s in (seconds(e.get("published_parsed")), seconds(e.get("updated_parsed"))) if s is not None],
        "rawDates": [s for s in (e.get("published"), e.get("updated")) if s],
        "authors": authors,
        "enclosures": [{"url": x.get("href"), "type": x.get("type") or None,
                        "length": int(x["length"]) if str(x.get("length", "")).isdigit() else None}
                       for x in e.get("enclosures", []) if x.get("href")],
        "text": text,
    }

def json_date(value):
    d = _parse_date(value) if value else None
    return seconds(d)

def json_entry(i):
    text = shown(i.get("content_html"), "text/html") or shown(i.get("content_text"), "text/plain") or shown(i.get("summary"), "text/plain")
    authors = []
    for a in (i.get("authors") or ([i["author"]] if i.get("author") else [])):
        if a.get("name"):
            authors.append(a["name"])
        if str(a.get("url", "")).startswith("mailto:"):
            authors.append(a["url"][7:])
    return {
        "id": str(i["id"]) if i.get("id") is not None else None,
        "linkIsId": False,
        # A JSON Feed title is plain text, but feeds write entities in it (&amp;, &#8216;) that readers decode.
        "title": shown(html.unescape(i["title"]) if isinstance(i.get("title"), str) else None, "text/plain"),
        "link": i.get("url") or i.get("external_url"),
        "dates": [s for s in (json_date(i.get("date_published")), json_date(i.get("date_modified"))) if s is not None],
        "rawDates": [s for s in (i.get("date_published"), i.get("date_modified")) if s],
        "authors": authors,
        "enclosures": [{"url": x.get("url"), "type": x.get("mime_type"), "length": x.get("size_in_bytes")} for x in i.get("attachments", []) if x.get("url")],
        "text": text,
    }

out = []
for job in json.load(sys.stdin):
    try:
        data = open(job["path"], "rb").read()
        if job.get("json"):
            doc = json.loads(data)
            # Only a JSON Feed has entries: its version is the spec's URL (or, leniently, absent with a
            # title, which the spec requires); other JSON with "items" (a parser's expected output) is not one.
            version = str(doc.get("version", "")) if isinstance(doc, dict) else ""
            is_feed = isinstance(doc, dict) and (re.match(r"https?://jsonfeed\.org/version/", version) is not None or ("version" not in doc and "title" in doc))
            out.append({"bozo": False, "version": "json", "entries": [json_entry(i) for i in doc.get("items", [])] if is_feed else []})
        else:
            d = feedparser.parse(data, response_headers={"content-location": job["base"], "content-type": job.get("type", "application/xml")})
            out.append({"bozo": bool(d.bozo), "version": d.get("version", ""), "entries": [xml_entry(e) for e in d.entries]})
    except Exception as error:
        out.append({"error": type(error).__name__ + ": " + str(error), "bozo": True, "version": "", "entries": []})
print(json.dumps(out))
`;

/** Reads every document with feedparser in one python process. */
async function readAll(jobs: Array<{ path: string; base: string; json?: boolean }>, home: string): Promise<Reading[]> {
  if (jobs.length === 0) return [];
  const input = join(home, `jobs-${process.pid}-${Date.now()}.json`);
  writeFileSync(input, JSON.stringify(jobs));
  const script = join(home, 'read-feeds.py');
  writeFileSync(script, READER_SCRIPT);
  const result = await run('/bin/sh', ['-c', `exec "$0" "$1" < "$2"`, SYSTEM_PYTHON, script, input], {
    env: isolatedEnv(home),
    timeoutMs: 600_000,
  });
  if (result.code !== 0) throw new Error(`feedparser failed (${result.code}): ${result.stderr.slice(-2000)}`);
  return JSON.parse(result.stdout) as Reading[];
}

export interface Mismatch {
  feed: string;
  format: OutputFormat | '-';
  field: Field | 'accepted' | 'nonempty';
  entry?: string;
  expected?: unknown;
  actual?: unknown;
  /** Set on a classified difference: why it is not a loss (classify.ts). */
  reason?: string;
}

export interface Figures {
  /** Feeds the reference reads at least one entry from. */
  readable: number;
  accepted: number;
  /** Accepted as ok with 0 entries although the reference reads entries. */
  okButEmpty: number;
  /** Refusals classify.ts says are not losses (refused by design, not a feed format). */
  refusedByDesign: number;
  /** Per field: cases compared, preserved, and differences classified as the reference's reading. */
  fields: Record<Field, { cases: number; preserved: number; classified: number }>;
  /** The losses. */
  mismatches: Mismatch[];
  /** The differences that are not losses, each with its reason. */
  classified: Mismatch[];
  /** Per feed: why it was not accepted. */
  refused: Array<{ feed: string; status: number; message: string }>;
  /** Published Atom and RSS documents written for the validator, when asked to keep them. */
  outputs: Array<{ feed: string; format: OutputFormat; path: string }>;
}

/** The feed files in a folder, recursively: anything that is not obviously something else. */
export function feedFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      const stat = statSync(path);
      if (stat.isDirectory()) {
        if (!name.startsWith('.')) walk(path);
      } else if (
        stat.isFile() &&
        stat.size > 0 &&
        stat.size < 8 * 1024 * 1024 &&
        !/\.(?:py|go|swift|js|ts|md|txt|png|jpe?g|gif|ico|gz|zip|yml|yaml|toml|cfg|ini|sh|mod|sum|plist|strings|h|m|pbxproj|xcscheme)$/i.test(
          name,
        )
      ) {
        found.push(path);
      }
    }
  };
  walk(dir);
  return found;
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/feed+json',
  atom: 'application/atom+xml',
  rdf: 'application/rdf+xml',
  html: 'text/html',
};

function contentTypeOf(path: string): string {
  const extension = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? 'application/xml';
}

const looksLikeJson = (body: Buffer): boolean => /^\s*[[{]/.test(body.subarray(0, 64).toString('latin1'));

export interface CompareOptions {
  /** Where published feeds are written (kept for the validator); a temp dir otherwise. */
  outputDir?: string;
  /** Called once per feed done, for progress on long corpora. */
  progress?: (done: number, total: number) => void;
}

/**
 * Runs every file through the whole path and compares. The files are served under one upstream,
 * each at its own path with the token in the query, as private feed hosts do.
 */
export async function compareCorpus(files: string[], root: string, options: CompareOptions = {}): Promise<Figures> {
  const work = mkdtempSync(join(tmpdir(), 'feedproxy-differential-'));
  const outputDir = options.outputDir ?? join(work, 'out');
  mkdirSync(outputDir, { recursive: true });
  const bodies = files.map((file) => readFileSync(file));
  let upstream: Upstream | undefined;
  let t: TestApp | undefined;
  const figures: Figures = {
    readable: 0,
    accepted: 0,
    okButEmpty: 0,
    refusedByDesign: 0,
    fields: Object.fromEntries(FIELDS.map((field) => [field, { cases: 0, preserved: 0, classified: 0 }])) as Figures['fields'],
    mismatches: [],
    classified: [],
    refused: [],
    outputs: [],
  };
  try {
    upstream = await startUpstream((request, response) => {
      const url = new URL(request.url ?? '/', 'http://upstream');
      const index = Number(url.pathname.split('/')[2]);
      const body = bodies[index];
      if (body === undefined || url.searchParams.get('token') !== UPSTREAM_TOKEN) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('no such feed');
        return;
      }
      response.writeHead(200, { 'content-type': contentTypeOf(files[index]!), 'content-length': String(body.length) }).end(body);
    });
    // Each file at a neutral path: its name is the corpus's, not an upstream's URL, and a name like
    // `rss1.0withModules.xml` is a token path segment (README "Secrets in the path"), which the
    // feed's own links to that name would then lose to REDACTED.
    const upstreamUrl = (index: number): string => upstream!.url(`/feeds/${index}/feed?token=${UPSTREAM_TOKEN}`);

    // The reference's reading of every original, first: only feeds it reads entries from count.
    const originals = await readAll(
      files.map((file, index) => ({
        path: file,
        base: upstreamUrl(index),
        json: looksLikeJson(bodies[index]!),
        type: contentTypeOf(file),
      })),
      work,
    );

    t = await startTestApp({ allowPrivate: [upstream.hostPort], env: CORPUS_LIMITS });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const key = await t.createUserKey('differential');
    const published: Array<{ index: number; paths: Record<OutputFormat, string> }> = [];
    for (const [index, file] of files.entries()) {
      options.progress?.(index, files.length);
      const original = originals[index]!;
      if (original.entries.length === 0) continue;
      figures.readable += 1;
      const name = relative(root, file);
      const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstreamUrl(index) } });
      if (created.statusCode !== 201) {
        const message = String((created.json() as { message?: string }).message ?? created.body).slice(0, 200);
        figures.refused.push({ feed: name, status: created.statusCode, message });
        const reason = classifyRefusal(bodies[index]!.toString('latin1'), original.entries);
        if (reason !== undefined) figures.refusedByDesign += 1;
        (reason === undefined ? figures.mismatches : figures.classified).push({
          feed: name,
          format: '-',
          field: 'accepted',
          expected: `${original.entries.length} entries`,
          actual: `${created.statusCode} ${message}`,
          ...(reason === undefined ? {} : { reason }),
        });
        continue;
      }
      figures.accepted += 1;
      const sourceId = (created.json() as { id: string }).id;
      const feed = await t.api(key, {
        method: 'POST',
        url: '/api/v1/feeds',
        payload: { title: `differential ${index}`, sources: [sourceId], limit: FEED_LIMIT },
      });
      if (feed.statusCode !== 201) throw new Error(`creating the feed of ${name} failed: ${feed.statusCode} ${feed.body}`);
      const urls = (feed.json() as { urls: Record<OutputFormat, string> }).urls;
      const paths = {} as Record<OutputFormat, string>;
      for (const format of OUTPUT_FORMATS) {
        const response = await fetch(`http://127.0.0.1:${port}${urls[format].slice(PUBLIC_URL.length)}`);
        const body = await response.text();
        if (response.status !== 200) throw new Error(`${name}: GET ${format} answered ${response.status}`);
        if (body.includes(UPSTREAM_TOKEN)) throw new Error(`${name}: the upstream token reached the published ${format}`);
        paths[format] = join(outputDir, `${index}.${format}`);
        writeFileSync(paths[format], body);
        if (format !== 'json') figures.outputs.push({ feed: name, format, path: paths[format] });
      }
      published.push({ index, paths });
    }

    const readings = await readAll(
      published.flatMap(({ paths }) =>
        OUTPUT_FORMATS.map((format) => ({ path: paths[format], base: `${PUBLIC_URL}/`, json: format === 'json' })),
      ),
      work,
    );
    for (const [position, { index }] of published.entries()) {
      const name = relative(root, files[index]!);
      const original = originals[index]!;
      const outputs = OUTPUT_FORMATS.map((_format, offset) => readings[position * OUTPUT_FORMATS.length + offset]!);
      if (outputs.every((output) => output.entries.length === 0)) {
        figures.okButEmpty += 1;
        figures.mismatches.push({ feed: name, format: '-', field: 'nonempty', expected: original.entries.length, actual: 0 });
      }
      for (const [offset, format] of OUTPUT_FORMATS.entries()) {
        compareFeed(figures, name, format, original, outputs[offset]!, bodies[index]!.toString('latin1'));
      }
    }
    return figures;
  } finally {
    await t?.close();
    await upstream?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Comparing one original with one output

/** Whitespace and case differences are not losses; nor are typographic quotes the sanitiser may normalise. */
function normaliseText(text: string | null): string {
  return (text ?? '').replace(/[\s\u00a0\u200b]+/g, '').toLowerCase();
}

function normaliseLink(link: string | null): string | null {
  if (link === null || link === '') return null;
  try {
    return new URL(link).href;
  } catch {
    return link;
  }
}

/**
 * Pairs each original entry with the output entry that is the same story: same link, title and
 * first enclosure, else same link and title, else same title, else same link, else same text, else
 * same first enclosure. (Not the id: a published feed's ids are its own, one namespace per source.
 * Not the authors: one author writes every entry of a blog, and a lost entry must count as missing.)
 */
export function pairEntries(
  original: ReadEntry[],
  output: ReadEntry[],
  /** Whether a title difference is the reference's own reading (classify.ts), this candidate being the copy. */
  titleExcused: (entry: ReadEntry, candidate: ReadEntry) => boolean = () => false,
): Array<ReadEntry | undefined> {
  const unused = new Set(output.map((_entry, index) => index));
  const keys: Array<(entry: ReadEntry) => string | null> = [
    // Podcasts repeat one link (the show's) and even a title: the first enclosure tells episodes apart.
    (entry) =>
      entry.enclosures.length === 0
        ? null
        : `${normaliseLink(entry.link)}\u0000${normaliseText(entry.title)}\u0000${normaliseLink(entry.enclosures[0]!.url)}`,
    (entry) => (entry.link === null && entry.title === null ? null : `${normaliseLink(entry.link)}\u0000${normaliseText(entry.title)}`),
    (entry) => (entry.title === null ? null : normaliseText(entry.title)),
    (entry) => normaliseLink(entry.link),
    (entry) => (entry.text === null ? null : normaliseText(entry.text)),
    (entry) => (entry.enclosures.length === 0 ? null : normaliseLink(entry.enclosures[0]!.url)),
  ];
  const pairs: Array<ReadEntry | undefined> = original.map(() => undefined);
  for (const keyOf of keys) {
    for (const [index, entry] of original.entries()) {
      if (pairs[index] !== undefined) continue;
      const key = keyOf(entry);
      if (key === null || key === '') continue;
      for (const candidate of unused) {
        if (keyOf(output[candidate]!) === key) {
          pairs[index] = output[candidate];
          unused.delete(candidate);
          break;
        }
      }
    }
  }
  // What no key matched, by position among the rest, only when as many outputs as originals are
  // left and the two titles agree (both absent, as for entries with nothing but an id, which
  // feedparser may have made their link) or differ only as a classified reading of the reference
  // (its title read from an <image> in a <category>, the candidate's the item's own): anything
  // else is a lost entry, counted missing.
  const rest = [...unused];
  const unpaired = pairs.filter((pair) => pair === undefined).length;
  if (unpaired === rest.length) {
    for (const [index, entry] of original.entries()) {
      if (pairs[index] !== undefined) continue;
      const candidate = output[rest.shift()!]!;
      // RSS needs a title or a description: an entry with neither is published titled "Untitled" (render/formats/rss.ts).
      const title = entry.title === null && candidate.title === 'Untitled' ? null : candidate.title;
      if (normaliseText(title) === normaliseText(entry.title) || titleExcused(entry, candidate)) pairs[index] = candidate;
    }
  }
  return pairs;
}

function compareFeed(figures: Figures, feed: string, format: OutputFormat, original: Reading, output: Reading, body: string): void {
  const pairs = pairEntries(
    original.entries,
    output.entries,
    (entry, candidate) =>
      entry.title !== null &&
      classifyDifference({
        field: 'titles',
        format,
        version: original.version,
        entries: original.entries,
        entry,
        copy: candidate,
        body,
      }) !== undefined,
  );
  for (const [index, entry] of original.entries.entries()) {
    const copy = pairs[index];
    const count = (field: Field, ok: boolean, entry: ReadEntry, expected: unknown, actual: unknown): void => {
      figures.fields[field].cases += 1;
      if (ok) {
        figures.fields[field].preserved += 1;
        return;
      }
      const mismatch: Mismatch = { feed, format, field, entry: entry.title ?? entry.link ?? '(untitled)', expected, actual };
      const reason = classifyDifference({ field, format, version: original.version, entries: original.entries, entry, copy, body });
      if (reason === undefined) {
        figures.mismatches.push(mismatch);
      } else {
        figures.fields[field].classified += 1;
        figures.classified.push({ ...mismatch, reason });
      }
    };
    // A feed publishes at most FEED_LIMIT entries (the API's maximum): beyond it, a missing entry is the limit, not a loss.
    if (copy === undefined && original.entries.length > FEED_LIMIT) continue;
    count('entries', copy !== undefined, entry, 'present', 'missing');
    if (copy === undefined) continue;
    if (entry.title !== null) count('titles', normaliseText(copy.title) === normaliseText(entry.title), entry, entry.title, copy.title);
    // Only http(s) links: feedparser makes a link of an Atom id or guid like tag:…, which no reader opens.
    if (entry.link !== null && /^https?:\/\//i.test(entry.link))
      count('links', normaliseLink(copy.link) === normaliseLink(entry.link), entry, entry.link, copy.link);
    if (entry.dates.length > 0)
      count(
        'dates',
        entry.dates.some((date) => copy.dates.includes(date)),
        entry,
        entry.dates,
        copy.dates,
      );
    if (entry.authors.length > 0) {
      const shown = normaliseText(copy.authors.join(' '));
      count(
        'authors',
        entry.authors.some((author) => shown.includes(normaliseText(author))),
        entry,
        entry.authors,
        copy.authors,
      );
    }
    if (entry.enclosures.length > 0) {
      const found = (wanted: ReadEntry['enclosures'][number]): boolean =>
        copy.enclosures.some(
          (enclosure) =>
            normaliseLink(enclosure.url) === normaliseLink(wanted.url) &&
            (wanted.type === null || enclosure.type === wanted.type) &&
            (wanted.length === null || wanted.length === 0 || enclosure.length === wanted.length),
        );
      // RSS 2.0 has room for one enclosure per item: the first is what podcast apps play.
      const wanted = format === 'rss' ? entry.enclosures.slice(0, 1) : entry.enclosures;
      count('enclosures', wanted.every(found), entry, wanted, copy.enclosures);
    }
    if (entry.text !== null)
      count(
        'text',
        normaliseText(copy.text) === normaliseText(entry.text),
        entry,
        entry.text.slice(0, 300),
        copy.text?.slice(0, 300) ?? null,
      );
  }
}

/**
 * The figures as the report prints them: per field, preserved of all cases (raw), the differences
 * classified as the reference's reading (classify.ts), and preserved of the cases that remain.
 */
export function formatFigures(figures: Figures, label: string): string {
  const percent = (part: number, whole: number): string => (whole === 0 ? 'n/a' : `${((100 * part) / whole).toFixed(2)}%`);
  const judged = figures.readable - figures.refusedByDesign;
  const lines = [
    `${label}`,
    `  feeds the reference reads entries from: ${figures.readable}; accepted: ${figures.accepted} (raw ${percent(figures.accepted, figures.readable)}; ` +
      `${figures.refusedByDesign} refused by design → ${percent(figures.accepted, judged)} of ${judged}); ok with 0 entries: ${figures.okButEmpty}`,
    `  field      preserved / cases    raw      classified  preserved of the rest`,
  ];
  for (const field of FIELDS) {
    const { cases, preserved, classified } = figures.fields[field];
    lines.push(
      `  ${field.padEnd(10)} ${String(preserved).padStart(7)} / ${String(cases).padEnd(7)} ${percent(preserved, cases).padStart(7)}  ` +
        `${String(classified).padStart(10)}  ${percent(preserved, cases - classified)}`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The W3C feed validator (github.com/w3c/feedvalidator, checked out outside the repository), all
// documents in one python process, at the online validator's level ("AA").

const VALIDATOR_SCRIPT = String.raw`
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "src"))
import feedvalidator
from feedvalidator import compatibility
from feedvalidator.formatter.text_plain import Formatter
out = []
for path in json.load(sys.stdin):
    try:
        events = feedvalidator.validateStream(open(path, "rb"), firstOccurrenceOnly=1, base="http://feeds.test/")["loggedEvents"]
    except feedvalidator.logging.ValidationFailure as failure:
        events = [failure.event]
    errors = [e for e in compatibility.AA(events) if isinstance(e, feedvalidator.logging.Error)]
    out.append([str(line) for line in Formatter(errors)] if errors else [])
print(json.dumps(out))
`;

/** Each document's validator errors (warnings are not counted), in the validator's words. */
export async function validateAll(validatorDir: string, paths: string[]): Promise<string[][]> {
  if (paths.length === 0) return [];
  const home = mkdtempSync(join(tmpdir(), 'feedproxy-validator-'));
  try {
    const script = join(home, 'validate.py');
    const input = join(home, 'paths.json');
    writeFileSync(script, VALIDATOR_SCRIPT);
    writeFileSync(input, JSON.stringify(paths));
    const result = await run('/bin/sh', ['-c', 'exec "$0" "$1" "$2" < "$3"', SYSTEM_PYTHON, script, validatorDir, input], {
      env: isolatedEnv(home),
      timeoutMs: 1_800_000,
    });
    if (result.code !== 0) throw new Error(`the feed validator failed (${result.code}): ${result.stderr.slice(-2000)}`);
    return JSON.parse(result.stdout) as string[][];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
