// OPML import: every subscription outline becomes a source through createSource (same validation,
// SSRF guard and fetch-once as POST /api/v1/sources), and every category a merged feed of its
// sources. One outline failing never stops the others; each gets its own line in the report.
import type { Deps } from '../deps.js';
import { BadRequestError, InternalError, isCodedError } from '../errors.js';
import { maskUrl, scrubText, secretValuesOf } from '../secrets/scrub.js';
import { createFeed, updateFeed } from '../services/feeds.js';
import { createSource } from '../services/sources.js';
import { findDuplicateSource, normaliseUrl } from '../services/source-index.js';
import type { FeedRecord } from '../model.js';
import { parseOpml, type OpmlOutline } from './opml-xml.js';

export type OutlineResult = 'added' | 'duplicate' | 'failed';

export interface OutlineReport {
  title: string;
  /** Masked: the query values of a tokenized URL never leave. */
  url: string;
  /** The category path, e.g. "Work / Dev"; null at the top level. */
  category: string | null;
  result: OutlineResult;
  sourceId?: string;
  error?: { error: string; message: string };
}

export interface ImportReport {
  outlines: OutlineReport[];
  /** One merged feed per category that holds at least one added or duplicate source. */
  feeds: FeedRecord[];
  /** Categories whose feed could not be made (the feed quota, usually). */
  feedErrors: Array<{ title: string; error: { error: string; message: string } }>;
  summary: Record<OutlineResult, number>;
}

/** Sources fetched at once: polite to upstreams, and bounds one import's share of the process. */
const IMPORT_CONCURRENCY = 4;
const CATEGORY_SEPARATOR = ' / ';
/**
 * Characters of a title, a category name and a category path, as a feed's title is cut: every
 * outline's report carries its category path, so an uncapped label of 100 KB over 990 outlines
 * made a 101 MB answer from a 149 KB upload (and a 950 KB one a 500).
 */
const MAX_LABEL = 300;
/** As POST /api/v1/sources; checked before the title is scrubbed of the URL's secrets, which costs with the URL's length. */
const MAX_URL_LENGTH = 4096;

/** A subscription outline, flattened out of its categories. */
interface Subscription {
  title: string;
  rawUrl: string;
  category: string | null;
  /** Refused while flattening (a URL too long to look at): not imported, reported as failed. */
  error?: { error: string; message: string };
}

/** Parses `opmlText` (a BadRequestError when it is not usable OPML) and imports it for `userId`. */
export async function importOpml(deps: Deps, userId: string, opmlText: string): Promise<ImportReport> {
  const subscriptions = flatten(parseOpml(opmlText).outlines, []);
  const reports: OutlineReport[] = subscriptions.map((subscription) => ({
    title: subscription.title,
    url: subscription.error ? originOf(subscription.rawUrl) : maskUrl(subscription.rawUrl),
    category: subscription.category,
    result: 'failed',
    ...(subscription.error ? { error: subscription.error } : {}),
  }));

  // Decided up front, in document order: the first copy of a URL is the one imported.
  const firstIndexOf = new Map<string, number>();
  const toImport: number[] = [];
  const copies: Array<{ index: number; of: number }> = [];
  for (const [index, subscription] of subscriptions.entries()) {
    if (subscription.error) continue;
    const key = normaliseUrl(subscription.rawUrl);
    // The API's own duplicate index: the two ways in agree on what is already there.
    const existing = key === undefined ? undefined : await findDuplicateSource(deps, userId, [subscription.rawUrl]);
    if (existing !== undefined) {
      Object.assign(reports[index]!, { result: 'duplicate', sourceId: existing });
    } else if (key !== undefined && firstIndexOf.has(key)) {
      copies.push({ index, of: firstIndexOf.get(key)! });
    } else {
      if (key !== undefined) firstIndexOf.set(key, index);
      toImport.push(index);
    }
  }

  await runPool(toImport, IMPORT_CONCURRENCY, async (index) => {
    const subscription = subscriptions[index]!;
    try {
      const source = await createSource(deps, userId, {
        url: subscription.rawUrl,
        ...(subscription.title ? { title: subscription.title } : {}),
      });
      Object.assign(reports[index]!, { result: 'added', sourceId: source.id, title: reports[index]!.title || source.title });
    } catch (error) {
      // A page that resolves to a feed the user has (or a copy imported meanwhile) is a duplicate.
      const duplicateOf = (error as { id?: unknown }).id;
      if (isCodedError(error) && error.statusCode === 409 && typeof duplicateOf === 'string')
        Object.assign(reports[index]!, { result: 'duplicate', sourceId: duplicateOf });
      else reports[index]!.error = errorOf(deps, error);
    }
  });
  // A later copy of a URL shares the first copy's fate: the same source, or the same failure.
  for (const { index, of } of copies) {
    const original = reports[of]!;
    Object.assign(
      reports[index]!,
      original.result === 'failed' ? { error: original.error } : { result: 'duplicate', sourceId: original.sourceId },
    );
  }

  const { feeds, feedErrors } = await feedsOfCategories(deps, userId, reports);
  const summary = { added: 0, duplicate: 0, failed: 0 };
  for (const report of reports) summary[report.result] += 1;
  deps.logger.info({ userId, ...summary, feeds: feeds.length }, 'opml imported');
  return { outlines: reports, feeds, feedErrors, summary };
}

/** Subscriptions in document order; a category's name comes from its `text` (or `title`). */
function flatten(outlines: OpmlOutline[], path: string[]): Subscription[] {
  return outlines.flatMap((outline) => {
    const label = cleanLabel(outline.text ?? outline.title) ?? cleanLabel(outline.title);
    const own: Subscription[] = [];
    if (outline.xmlUrl !== undefined) {
      const rawUrl = outline.xmlUrl.trim();
      const category = path.length ? cutLabel(path.join(CATEGORY_SEPARATOR)) : null;
      if (rawUrl.length > MAX_URL_LENGTH) {
        // Its title may name the URL's token, and is not shown: scrubbing it would read the whole URL.
        const message = `xmlUrl is longer than ${MAX_URL_LENGTH} characters`;
        own.push({ title: '', rawUrl, category, error: { error: BadRequestError.code, message } });
      } else {
        own.push({ title: scrubbedTitle(outline, rawUrl), rawUrl, category });
      }
    }
    // An unnamed category is transparent: its outlines belong to the one around it.
    const childPath = outline.xmlUrl === undefined && label ? [...path, label] : path;
    return [...own, ...flatten(outline.children, childPath)];
  });
}

/** One feed per category path, titled by the path; an existing feed with that exact title is extended. */
async function feedsOfCategories(
  deps: Deps,
  userId: string,
  reports: OutlineReport[],
): Promise<Pick<ImportReport, 'feeds' | 'feedErrors'>> {
  const sourcesByCategory = new Map<string, string[]>();
  for (const report of reports) {
    if (report.category === null || report.sourceId === undefined) continue;
    const title = report.category;
    sourcesByCategory.set(title, [...(sourcesByCategory.get(title) ?? []), report.sourceId]);
  }
  const feeds: FeedRecord[] = [];
  const feedErrors: ImportReport['feedErrors'] = [];
  const existing = await deps.registry.listFeeds(userId);
  for (const [title, sourceIds] of sourcesByCategory) {
    const match = existing.find((feed) => feed.title === title);
    try {
      feeds.push(
        match
          ? await updateFeed(deps, userId, match.id, { sources: [...new Set([...match.sourceIds, ...sourceIds])] })
          : await createFeed(deps, userId, { title, sources: sourceIds }),
      );
    } catch (error) {
      feedErrors.push({ title, error: errorOf(deps, error) });
    }
  }
  return { feeds, feedErrors };
}

/** A coded error says what went wrong, safely; anything else is our bug and is logged, not shown. */
function errorOf(deps: Deps, error: unknown): { error: string; message: string } {
  if (isCodedError(error)) return { error: error.code, message: error.message };
  deps.logger.error({ err: { type: (error as Error)?.name, message: (error as Error)?.message } }, 'opml import step failed');
  return { error: InternalError.code, message: 'Internal error while importing this outline' };
}

/**
 * A subscription's title (its `title`, else its `text`) with the URL's secrets scrubbed: a title
 * naming the token is still the token. Scrubbed before it is cut, or a token straddling the cut
 * leaves its head behind; bounded first (no secret is longer than the URL), so the scrub reads what
 * it must and no more.
 */
function scrubbedTitle(outline: OpmlOutline, rawUrl: string): string {
  const given = outline.title?.trim() ? outline.title : (outline.text ?? '');
  const bounded = given.slice(0, 2 * (MAX_LABEL + MAX_URL_LENGTH)).replace(/\s+/g, ' ');
  return cutLabel(scrubText(bounded, secretValuesOf(rawUrl)));
}

/** Whitespace runs as one space, cut to MAX_LABEL characters; undefined when nothing is left. */
function cleanLabel(label: string | undefined): string | undefined {
  const cleaned = label === undefined ? undefined : cutLabel(label.replace(/\s+/g, ' '));
  return cleaned ? cleaned : undefined;
}

function cutLabel(label: string): string {
  const cut = label.length > MAX_LABEL ? label.slice(0, MAX_LABEL) : label;
  // A surrogate pair is not cut in two.
  return (/[\ud800-\udbff]$/.test(cut) && label.length > MAX_LABEL ? cut.slice(0, -1) : cut).trim();
}

/** The scheme and host of a URL not shown whole (its path and query may hold a token); `***` if it has none. */
function originOf(rawUrl: string): string {
  try {
    const { origin } = new URL(rawUrl);
    return origin === 'null' ? '***' : `${origin}/***`;
  } catch {
    return '***';
  }
}

/** Runs `work` on every item, at most `limit` at a time. */
async function runPool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
