// Source management: the operations behind /api/v1/sources, shared by the API and the CLI.
// Over 300 lines because create, edit and delete share the probe, the checks and the URL claims.
import type { Deps } from '../deps.js';
import { BadRequestError, ConflictError, isCodedError, NotAFeedError, NotFoundError } from '../errors.js';
import { checkUrl } from '../fetch/index.js';
import type { FeedResponse, RequestSigner } from '../fetch/types.js';
import type { ParsedFeed } from '../model.js';
import { discoverFeedLinks, isHtmlDocument, parseFeed } from '../parse/index.js';
import { scrubEntry, scrubMessage, scrubText, secretValuesOf, validatorToKeep } from '../secrets/scrub.js';
import { rebuildFeed, rebuildFeedsOfSources } from '../publish/rebuild-feed.js';
import { knownSecretsOf, scrubCachedEntries, secretsOfRecord, sourceUrlFields } from '../refresh/source-request.js';
import { updateCachedEntries } from '../refresh/update-cache.js';
import type { SourceRecord } from '../model.js';
import { failingSince, nextFetchAfter, resetForRetry, upstreamMinMinutesOf } from '../model/source-policy.js';
import { isStoreBusy } from '../store/kv.js';
import { logBackgroundFailure } from '../store-unavailable.js';
import { randomToken } from '../vault/seal.js';
import { CONNECTION_REMOVED, connectionRequest } from '../oauth/signed-requests.js';
import { removeSourceFromFeeds } from './feeds.js';
import {
  claimSourceUrls,
  countCachedBytes,
  indexSource,
  recountCachedBytes,
  releaseSlot,
  reserveSlot,
  unindexSource,
  urlDigestsOf,
  type UrlClaim,
} from './source-index.js';

export interface CreateSourceInput {
  url: string;
  title?: string;
  refreshMinutes?: number;
  connectionId?: string;
  /** Values the user marks as secret beyond what secrets/scrub.ts recognises (6 to 512 characters each). */
  secrets?: string[];
}

export interface UpdateSourceInput {
  url?: string;
  title?: string;
  refreshMinutes?: number;
  secrets?: string[];
}

const MINUTE = 60_000;

/**
 * Fetches the URL once (following an HTML page's `<link rel="alternate">`), and stores the source
 * with its first entries only when that worked: a failed create leaves nothing behind.
 */
export async function createSource(deps: Deps, userId: string, input: CreateSourceInput): Promise<SourceRecord> {
  const refreshMinutes = checkRefreshMinutes(deps, input.refreshMinutes ?? deps.config.refresh.defaultMinutes);
  // A URL the user already has is named before anything is fetched; the feed an HTML page resolves
  // to is checked again after the probe.
  const inputUrl = typeof input.url === 'string' ? input.url : '';
  // Held until the new source is indexed: a concurrent create of the same URL waits, then is a 409.
  const claim = claimSourceUrls(deps, userId, input.connectionId);
  try {
    await claim.add([inputUrl]);
    await checkCachedBytes(deps, userId);
    const marked = checkMarkedSecrets(input.secrets);
    // Checked before the probe, so a user at the limit cannot make us fetch anything either.
    await reserveSlot(deps, userId, 'sources');
    let created = false;
    try {
      const source = await createReservedSource(deps, userId, input, inputUrl, refreshMinutes, marked, claim);
      created = true;
      return source;
    } finally {
      if (!created) await releaseSlot(deps, userId, 'sources');
    }
  } finally {
    await claim.release();
  }
}

async function createReservedSource(
  deps: Deps,
  userId: string,
  input: CreateSourceInput,
  inputUrl: string,
  refreshMinutes: number,
  marked: string[],
  claim: UrlClaim,
): Promise<SourceRecord> {
  const probe = await probeSource(deps, userId, input.url, input.connectionId, marked);
  await claim.add([probe.storedUrl]);
  const now = deps.now();
  const id = randomToken(9);
  const {
    entries,
    texts,
    bytes: cachedBytes,
  } = updateCachedEntries(
    [],
    probe.parsed.entries.map((entry) => scrubEntry(entry, probe.secrets)),
    id,
    now,
    {
      retentionMs: deps.config.refresh.retentionDays * 24 * 60 * MINUTE,
      maxEntries: deps.config.refresh.maxEntriesPerSource,
      maxBytes: deps.config.limits.maxCachedBytesPerSource,
    },
  );
  const fetchedAt = now.toISOString();
  const upstreamMinMinutes = upstreamMinMinutesOf(probe.response.maxAgeSeconds, probe.parsed.ttlMinutes);
  const source: SourceRecord = {
    id,
    userId,
    title:
      cleanTitle(input.title) ??
      cleanTitle(scrubText(probe.parsed.title ?? '', probe.secrets)) ??
      new URL(probe.storedUrl.replace(/[{}]/g, '')).host,
    ...sourceUrlFields(deps, undefined, probe.storedUrl, probe.urls, marked),
    host: probe.host,
    ...(input.connectionId ? { connectionId: input.connectionId } : {}),
    refreshMinutes,
    status: 'ok',
    errorCount: 0,
    lastFetchedAt: fetchedAt,
    lastSuccessAt: fetchedAt,
    nextFetchAt: '',
    etag: validatorToKeep(probe.response.etag, probe.secrets),
    lastModified: validatorToKeep(probe.response.lastModified, probe.secrets),
    ...(probe.parsed.link ? { siteUrl: scrubText(probe.parsed.link, probe.secrets) } : {}),
    ...(probe.parsed.image ? { image: scrubText(probe.parsed.image, probe.secrets) } : {}),
    ...(probe.parsed.explicit === undefined ? {} : { explicit: probe.parsed.explicit }),
    ...(probe.parsed.podcast === undefined ? {} : { podcast: scrubEntry(probe.parsed.podcast, probe.secrets) }),
    upstreamMinMinutes,
    urlDigests: urlDigestsOf(deps, [inputUrl, probe.storedUrl], input.connectionId),
    entryCount: entries.length,
    cachedBytes,
    createdAt: fetchedAt,
    updatedAt: fetchedAt,
  };
  source.nextFetchAt = nextFetchAfter(deps.config.refresh, source, now);
  // One atomic write, not a commit point reached through ordered writes: the entries, the record,
  // the lists, the counter and the duplicate index land together or not at all, so a failure (a
  // busy store, a refused write) leaves nothing listed, nothing indexed and no orphan to sweep, and
  // the slot given back leaves the counter equal to what is listed. It costs what the separate
  // writes did: a fixed number of keys, whatever the number of sources.
  await deps.registry.createSource(source, entries, texts);
  deps.logger.info({ sourceId: id, userId, host: source.host }, 'source created');
  return source;
}

export async function updateSource(deps: Deps, userId: string, id: string, input: UpdateSourceInput): Promise<SourceRecord> {
  const source = await getOwnedSourceOrThrow(deps, userId, id);
  if (input.url === undefined) return changeSource(deps, userId, source, input);
  // A new URL is claimed until the change is indexed, as a create's is (claimSourceUrls).
  const claim = claimSourceUrls(deps, userId, source.connectionId, id);
  return changeSource(deps, userId, source, input, claim).finally(() => claim.release());
}

async function changeSource(
  deps: Deps,
  userId: string,
  source: SourceRecord,
  input: UpdateSourceInput,
  claim?: UrlClaim,
): Promise<SourceRecord> {
  const id = source.id;
  const now = deps.now().toISOString();
  const title = input.title === undefined ? undefined : cleanTitle(input.title);
  const refreshMinutes = input.refreshMinutes === undefined ? undefined : checkRefreshMinutes(deps, input.refreshMinutes);
  const marked = checkMarkedSecrets(input.secrets);
  // A source of a removed connection stays disabled whatever the edit: nothing signs its requests any
  // more, so a reset would only see its next refresh disable it again (CONNECTION_REMOVED says what to do).
  const connectionRemoved = source.connectionId !== undefined && !(await deps.registry.getConnection(source.connectionId));
  if (connectionRemoved && input.url !== undefined) {
    // Its own URL sent back (as stored, or masked as shown) moves nothing; another one cannot be signed.
    if (input.url !== source.urlMasked && input.url !== deps.vault.open(source.urlSealed)) throw new ConflictError(CONNECTION_REMOVED);
    input = { ...input, url: undefined };
  }
  let probe: Awaited<ReturnType<typeof probeSource>> | undefined;
  if (input.url !== undefined) {
    await claim!.add([input.url]);
    probe = await probeSource(deps, userId, input.url, source.connectionId, [...knownSecretsOf(deps, source), ...marked]);
    await claim!.add([probe.storedUrl]);
  }
  // An edit is the user's word that the source should work again: retry it now.
  const resets = (base: SourceRecord) =>
    !connectionRemoved && (probe !== undefined || base.status === 'unauthorized' || base.status === 'disabled');
  // What the edit makes of a record: the one read, or — when a refresh or another write landed in
  // between — the one it left (saveEdit), so that write keeps its fields and the edit sets its own.
  const changesOf = (base: SourceRecord): Partial<SourceRecord> => {
    const changes: Partial<SourceRecord> = { updatedAt: now };
    if (input.title !== undefined) changes.title = title ?? base.title;
    if (refreshMinutes !== undefined) changes.refreshMinutes = refreshMinutes;
    if (probe === undefined && marked.length > 0) {
      // Marked on a source as it is: its URL masked again (its cached entries are scrubbed below).
      Object.assign(changes, sourceUrlFields(deps, base, deps.vault.open(base.urlSealed), [], marked));
      // The source's own fields came from the upstream too (title, home page, artwork, last error):
      // a value the rules did not recognise may be in them, and they are published or shown.
      const secrets = secretsOfRecord(deps, { ...base, ...changes });
      changes.title = scrubText(changes.title ?? base.title, secrets);
      if (base.siteUrl !== undefined) changes.siteUrl = scrubText(base.siteUrl, secrets);
      if (base.image !== undefined) changes.image = scrubText(base.image, secrets);
      if (base.podcast !== undefined) changes.podcast = scrubEntry(base.podcast, secrets);
      if (base.lastError !== undefined) changes.lastError = scrubText(base.lastError, secrets);
      // And its validators, sent back as they came: one that holds the value is dropped.
      changes.etag = validatorToKeep(base.etag, secrets);
      changes.lastModified = validatorToKeep(base.lastModified, secrets);
    }
    if (probe !== undefined) {
      Object.assign(changes, {
        urlDigests: urlDigestsOf(deps, [input.url!, probe.storedUrl], base.connectionId),
        ...sourceUrlFields(deps, base, probe.storedUrl, [deps.vault.open(base.urlSealed), ...probe.urls], marked),
        host: probe.host,
        etag: undefined,
        lastModified: undefined,
      });
    }
    if (resets(base)) Object.assign(changes, resetForRetry(now));
    return changes;
  };
  // What its feeds show changes: a failing source the edit resets is failing no more (the stale
  // marker lists each source's status, and stands only while all fail), a new title, or a value
  // marked secret (scrubbed from the cached entries below, and then from what is published). Marked
  // for a rebuild before anything is written, as a relink's put-back marks them: a rebuild that fails
  // below, or a process that dies first, leaves it to the scheduler's pending pass.
  const backToLife = resets(source) && failingSince(source) !== undefined;
  const republishes = backToLife || (title !== undefined && title !== source.title) || marked.length > 0;
  if (republishes) await deps.registry.markRebuildPending(id);
  const scrubFor = (record: SourceRecord) => scrubCachedEntries(deps, id, secretsOfRecord(deps, record));
  // With a new URL too: the entries cached from the old one stay published until they leave the cache.
  if (marked.length > 0) await scrubFor({ ...source, ...changesOf(source) });
  const { written, overwrote } = await saveEdit(deps, source, changesOf, refreshMinutes !== undefined);
  // A refresh written between that scrub and this write cached entries scrubbed for the secrets before.
  if (marked.length > 0 && overwrote !== source) await scrubFor(written);
  if (probe !== undefined) {
    // The URLs the record held (as read, and as overwritten: a redirect a refresh followed meanwhile).
    await unindexSource(deps, source);
    if (overwrote !== source) await unindexSource(deps, overwrote);
    await indexSource(deps, written);
  }
  // Republished as the put-back does (also a status a refresh wrote meanwhile and this edit reset, or
  // a title it wrote): a failure is left to the scheduler's pending pass, never the edit's answer —
  // the edit is written, and a retry of it would find nothing left to change.
  if (republishes || failingSince(written) !== failingSince(overwrote) || written.title !== source.title) await republish(deps, [id]);
  return written;
}

/**
 * The feeds of sources a write changed what they publish of (an edit, a relink's put-back, a removal's
 * disabling), rebuilt: the stale marker says whether every source of a feed is failing, and how each
 * is (publish/rebuild-feed.ts). Each feed once; each source was marked pending before its write, so
 * any failure here — a busy store ends the rebuild at its first refusal — leaves them to the
 * scheduler's next tick. It never fails the write it follows: logged.
 */
export async function republish(deps: Deps, sourceIds: string[]): Promise<void> {
  if (sourceIds.length === 0) return;
  let left: string[];
  try {
    left = await rebuildFeedsOfSources(deps, sourceIds);
  } catch (error) {
    logBackgroundFailure(deps.logger, error, 'rebuilding feeds', { sourceIds });
    // A busy store would refuse the marks below as well, each after its own wait.
    if (isStoreBusy(error)) return;
    left = sourceIds;
  }
  // The mark taken before the write may be gone since: a rebuild that read the record before that
  // write (the scheduler's pending pass, a batch's round) took it down. Marked again, best effort (a
  // busy store refuses the rest too: one wait, not one a source).
  for (const id of left) {
    try {
      await deps.registry.markRebuildPending(id);
    } catch (error) {
      logBackgroundFailure(deps.logger, error, 'marking feeds for a later rebuild', { sourceId: id });
      if (isStoreBusy(error)) return;
    }
  }
}

/** Tries of a write over a source record that keeps changing under it. */
const SOURCE_WRITE_TRIES = 5;

/**
 * Writes `nextOf(read)` over the record `read` by compare-and-set: when a refresh or another write
 * landed since the read, `nextOf` the record as it is then, so that write keeps its fields and this
 * one applies its change over them. `nextOf` answers undefined to leave a record as it is. Answers
 * the record written and the one it overwrote; undefined when nothing was written (left as it is, or
 * the source deleted meanwhile); 409 for a record that kept changing, whose text is `keptChanging`:
 * what the caller was doing (an edit asks the user to try again; the others log it, leftToNextWrite).
 */
export async function rewriteSource(
  deps: Deps,
  read: SourceRecord,
  nextOf: (base: SourceRecord) => SourceRecord | undefined,
  keptChanging: string,
): Promise<{ written: SourceRecord; overwrote: SourceRecord } | undefined> {
  let base = read;
  for (let attempt = 1; ; attempt++) {
    const next = nextOf(base);
    if (next === undefined) return undefined;
    if (await deps.registry.saveEditedSource(next, base)) return { written: next, overwrote: base };
    if (attempt === SOURCE_WRITE_TRIES) throw new ConflictError(keptChanging);
    const current = await deps.registry.getSource(read.id);
    if (!current || !(await deps.registry.isSourceListed(read.id))) return undefined;
    base = current;
  }
}

/**
 * For writes the source's own next one can make instead (a relink's put-back, a removal's disabling):
 * true, logged, when rewriteSource gave up on a source that kept changing under it.
 */
export function leftToNextWrite(deps: Deps, error: unknown, work: string, fields: Record<string, unknown>): boolean {
  if (!isCodedError(error) || error.code !== ConflictError.code) return false;
  deps.logger.warn({ ...fields, err: error.message }, `${work} left undone: the source kept changing`);
  return true;
}

/**
 * Writes an edit over the record `read` (rewriteSource): `changesOf` the record written over. A new
 * interval plans the next fetch from the record's last one, unless the source is due at once (a
 * reset's "now", or a record still new). 404 for a source deleted meanwhile.
 */
async function saveEdit(
  deps: Deps,
  read: SourceRecord,
  changesOf: (base: SourceRecord) => Partial<SourceRecord>,
  replan: boolean,
): Promise<{ written: SourceRecord; overwrote: SourceRecord }> {
  const editOf = (base: SourceRecord): SourceRecord => {
    let changes: Partial<SourceRecord>;
    try {
      changes = changesOf(base);
    } catch (error) {
      // A record resealed meanwhile under a key this instance does not hold yet (a key rotation).
      if (base === read) throw error;
      // Its name only: a message may quote what it failed on (an opened secret).
      deps.logger.warn({ sourceId: read.id, err: (error as Error).name }, 'an edit could not be made again over a changed source');
      throw new ConflictError('the source changed while it was edited; try again');
    }
    const next: SourceRecord = { ...base, ...changes };
    if (replan && changes.nextFetchAt === undefined && base.status !== 'new')
      next.nextFetchAt = nextFetchAfter(deps.config.refresh, next, new Date(base.lastFetchedAt ?? next.updatedAt));
    return next;
  };
  const saved = await rewriteSource(deps, read, editOf, 'the source kept changing while it was edited; try again');
  // Every record gets the edit: nothing written is a source deleted meanwhile.
  if (!saved) throw new NotFoundError('Source');
  return saved;
}

export async function deleteSource(deps: Deps, userId: string, id: string): Promise<void> {
  const source = await getOwnedSourceOrThrow(deps, userId, id);
  const feedIds = await removeSourceFromFeeds(deps, id);
  await unindexSource(deps, source);
  await deps.registry.deleteSource(source);
  for (const feedId of feedIds) await rebuildFeed(deps, feedId);
  deps.logger.info({ sourceId: id, userId }, 'source deleted');
}

export async function getOwnedSourceOrThrow(deps: Pick<Deps, 'registry'>, userId: string, id: string): Promise<SourceRecord> {
  const source = await deps.registry.getOwnedSource(userId, id);
  if (!source) throw new NotFoundError('Source');
  return source;
}

interface Probe {
  /** The URL to store: the feed's own URL after autodiscovery, with placeholders kept for connection sources. */
  storedUrl: string;
  host: string;
  response: Extract<FeedResponse, { kind: 'ok' }>;
  parsed: ParsedFeed;
  secrets: string[];
  /** Every URL the probe was given or fetched (the user's, a page's feed link): their secrets are kept. */
  urls: string[];
}

async function probeSource(deps: Deps, userId: string, rawUrl: string, connectionId?: string, known: string[] = []): Promise<Probe> {
  if (typeof rawUrl !== 'string' || rawUrl.length > 4096) throw new BadRequestError('url must be a string of at most 4096 characters');
  try {
    return await readNewSource(deps, userId, rawUrl, connectionId, known);
  } catch (error) {
    // An upstream's or the parser's words can quote the URL's secrets (a host it was sent to, a root
    // element it named): the answer and the log say what went wrong without them.
    if (isCodedError(error)) error.message = scrubMessage(error.message, secretValuesOf(rawUrl.trim(), known));
    throw error;
  }
}

async function readNewSource(
  deps: Deps,
  userId: string,
  rawUrl: string,
  connectionId: string | undefined,
  known: string[],
): Promise<Probe> {
  let url = rawUrl.trim();
  let sign: RequestSigner | undefined;
  let secrets: string[] = [];
  if (connectionId) {
    const request = await connectionRequest(deps, userId, connectionId, url);
    ({ url, sign, secrets } = request);
  }
  checkUrl(url);
  secrets = [...secrets, ...secretValuesOf(url, known)];

  let response = await fetchOk(deps, url, sign);
  let storedUrl = connectionId ? rawUrl.trim() : url;
  if (isHtmlDocument(response.body, response.contentType)) {
    const [link] = discoverFeedLinks(response.body.toString('utf8'), response.finalUrl);
    if (!link) {
      // An Atom feed a server wrapped in an (X)HTML page is read as the feed it holds.
      const embedded = parseEmbeddedFeed(response);
      if (embedded) {
        const urls = connectionId ? [] : [url, response.finalUrl];
        return {
          storedUrl,
          host: new URL(response.finalUrl).host,
          response,
          parsed: embedded,
          secrets: [...secrets, ...secretValuesOf(response.finalUrl)],
          urls,
        };
      }
      throw new NotAFeedError('the page is HTML and names no feed (<link rel="alternate">)');
    }
    checkUrl(link.url);
    // A signature is for the origin it was made for; a page may name a feed anywhere.
    const sameOrigin = new URL(link.url).origin === new URL(response.finalUrl).origin;
    response = await fetchOk(deps, link.url, sameOrigin ? sign : undefined);
    storedUrl = link.url;
    secrets = [...secrets, ...secretValuesOf(link.url)];
  } else if (response.permanentUrl && !connectionId) {
    storedUrl = response.permanentUrl;
  }
  const parsed = parseFeed(response.body, { baseUrl: response.finalUrl, contentType: response.contentType });
  const urls = connectionId ? [] : [url, response.finalUrl];
  return {
    storedUrl,
    host: new URL(response.finalUrl).host,
    response,
    parsed,
    secrets: [...secrets, ...secretValuesOf(response.finalUrl)],
    urls,
  };
}

function parseEmbeddedFeed(response: Extract<FeedResponse, { kind: 'ok' }>): ParsedFeed | undefined {
  try {
    return parseFeed(response.body, { baseUrl: response.finalUrl, contentType: response.contentType });
  } catch {
    return undefined;
  }
}

async function fetchOk(deps: Deps, url: string, sign?: RequestSigner): Promise<Extract<FeedResponse, { kind: 'ok' }>> {
  // Counted as refresh-source.ts counts a refresh's fetch, so /metrics shows every upstream request.
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  let response: FeedResponse;
  try {
    response = await deps.fetcher.fetchFeed({ url, ...(sign ? { sign } : {}) });
  } catch (error) {
    deps.metrics.fetchDuration.observe({ outcome: 'error' }, seconds());
    throw error;
  }
  deps.metrics.fetchDuration.observe({ outcome: response.kind }, seconds());
  if (response.kind === 'ok') deps.metrics.bytesFetched.inc(response.body.length);
  // Without validators a 304 cannot happen; treat one as the broken answer it is.
  if (response.kind !== 'ok') throw new NotAFeedError('the upstream answered 304 Not Modified to an unconditional request');
  return response;
}

/**
 * What the user's sources hold in the store, bounded in all (issue 18: 3). Checked before the probe;
 * creates running at the same moment (at most limits.heavyRequestsPerUser of them) may each still
 * add up to maxCachedBytesPerSource past it.
 */
async function checkCachedBytes(deps: Deps, userId: string): Promise<void> {
  const max = deps.config.limits.maxCachedBytesPerUser;
  // A counter kept with the quota counters (O(1) per create); counted once for users from before it.
  // What a refresh in this process owes it (a busy store) is settled first, so it is read right.
  await countCachedBytes(deps, userId, 0);
  let used = (await deps.registry.getUserCounts(userId))?.cachedBytes;
  if (used === undefined) used = await recountCachedBytes(deps, userId);
  // At the cap, count again before refusing: a delete racing a refresh can leave the counter high,
  // and a user must never be refused for bytes they no longer hold.
  else if (used >= max) used = await recountCachedBytes(deps, userId);
  if (used >= max) {
    const mib = (bytes: number) => `${Math.ceil(bytes / 1_048_576)} MiB`;
    throw new ConflictError(
      `storage limit reached: your sources' cached entries take ${mib(used)} of the ${mib(max)} a user may have; delete sources first`,
    );
  }
}

function checkRefreshMinutes(deps: Deps, minutes: number): number {
  const floor = deps.config.refresh.minMinutes;
  if (!Number.isInteger(minutes) || minutes < floor || minutes > 1440) {
    throw new BadRequestError(`refreshMinutes must be an integer from ${floor} to 1440`);
  }
  return minutes;
}

function checkMarkedSecrets(secrets: string[] | undefined): string[] {
  const marked = (secrets ?? []).map((secret) => secret.trim());
  if (marked.some((secret) => secret.length < 6))
    throw new BadRequestError('each of secrets must be at least 6 characters (shorter values are words, not secrets)');
  return marked;
}

function cleanTitle(title: string | undefined): string | undefined {
  const cleaned = title?.replace(/\s+/g, ' ').trim().slice(0, 300);
  return cleaned ? cleaned : undefined;
}
