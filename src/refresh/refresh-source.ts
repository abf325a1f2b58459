// The one refresh path: the scheduler, the API's refresh route and `feedproxy refresh` all call
// refreshSource(). It never throws for an upstream's sake: every failure ends up on the source.
// Over 300 lines because the one path is the point: lease, due check, signed or plain request,
// outcome bookkeeping and cache update read top to bottom in one place (the rules are in
// model/source-policy.ts, the cache merge in update-cache.ts).
import { hash } from 'node:crypto';
import type { Deps } from '../deps.js';
import { InternalError, isCodedError, NotFoundError, type CodedError } from '../errors.js';
import type { FeedResponse } from '../fetch/types.js';
import type { CachedEntry, Entry } from '../model.js';
import { CONNECTION_REMOVED, correctClockSkew, disabledByRemoval } from '../oauth/signed-requests.js';
import { NORMALISER_VERSION, parseFeed } from '../parse/index.js';
import { SCRUB_RULES, scrubEntry, scrubMessage, scrubText, secretValuesOf, validatorToKeep } from '../secrets/scrub.js';
import type { WrittenEntries } from '../publish/merge-state.js';
import { rebuildFeedsOfSource } from '../publish/rebuild-feed.js';
import { isStoreBusy } from '../store/kv.js';
import { logBackgroundFailure } from '../store-unavailable.js';
import type { SourceRecord } from '../model.js';
import {
  afterFailure,
  afterGoodFetch,
  isActive,
  isDeferred,
  nextFetchAfter,
  resetForRetry,
  upstreamMinMinutesOf,
} from '../model/source-policy.js';
import {
  maskedUrlFields,
  prepareSourceRequest,
  scrubCachedEntries,
  secretsOfRecord,
  sourceUrlFields,
  type SourceRequest,
} from './source-request.js';
import { countCachedBytes, indexMovedUrls, urlDigestsOf } from '../services/source-index.js';
import { leftToNextWrite, rewriteSource } from '../services/sources.js';
import { updateCachedEntries } from './update-cache.js';
import { VERSION } from '../version.js';

export type RefreshOutcome = 'updated' | 'unchanged' | 'failed' | 'deferred' | 'skipped';

export interface RefreshResult {
  outcome: RefreshOutcome;
  source: SourceRecord;
  error?: { code: string; message: string };
}

export interface RefreshOptions {
  /** Refresh even a disabled or unauthorized source (a user's explicit request). Retry-After still wins. */
  force?: boolean;
  /**
   * With `force`: a disabled source is still skipped, and so is one disabled over this refresh
   * (`feedproxy refresh --all`: every source that may be refreshed, an unauthorized one included).
   */
  skipDisabled?: boolean;
  /** Skip the source unless it is due (scheduler, cron): checked under the lease. */
  onlyIfDue?: boolean;
  /** When another process holds the source's lease, wait for its result instead of skipping. */
  wait?: boolean;
  /**
   * Sources whose feeds need rebuilding are added here instead of rebuilt at once: a batch
   * (run-batch.ts) rebuilds each of their feeds once, however many of its sources changed.
   */
  rebuilds?: Set<string>;
  /**
   * With `rebuilds`: handed a source's entries as this refresh wrote them, with the revision written
   * and their size, so the batch's rebuild need not read them back (publish/merge-state.ts).
   */
  keepWritten?: (sourceId: string, written: WrittenEntries, bytes: number) => void;
}

const MINUTE = 60_000;
const inFlight = new WeakMap<object, Map<string, { refresh: Promise<RefreshResult | undefined>; rebuilds?: Set<string> }>>();

/**
 * Refreshes one source now. Concurrent calls for the same source in this process share one fetch;
 * when another process holds the source's lease, the call skips or (with `wait`) takes its result.
 * Resolves undefined when the source does not exist (any more).
 */
export async function refreshSource(deps: Deps, sourceId: string, options: RefreshOptions = {}): Promise<RefreshResult | undefined> {
  let running = inFlight.get(deps.registry);
  if (!running) inFlight.set(deps.registry, (running = new Map()));
  const current = running.get(sourceId);
  if (current) {
    const shared = await current.refresh;
    // A scheduler call that skipped (not due, or leased elsewhere) is no answer for a user's refresh.
    if (shared?.outcome === 'skipped' && (options.wait || options.force)) return refreshSource(deps, sourceId, options);
    // Joined a batch's refresh, whose rebuild waits for the batch (or is under way): this caller
    // rebuilds now, joining or following that one, so its answer comes with the feeds published.
    if (current.rebuilds && !options.rebuilds && shared && shared.outcome !== 'skipped' && shared.outcome !== 'deferred')
      await rebuildQuietly(deps, shared.source, options);
    return shared;
  }
  const refresh = refreshWithLease(deps, sourceId, options).finally(() => running.delete(sourceId));
  running.set(sourceId, { refresh, rebuilds: options.rebuilds });
  return refresh;
}

async function refreshWithLease(deps: Deps, sourceId: string, options: RefreshOptions): Promise<RefreshResult | undefined> {
  const leaseMs = deps.config.fetch.timeoutSeconds * 1000 + MINUTE;
  // Read only when the lease is refused: the common case reads the record once, under the lease.
  let before: SourceRecord | undefined;
  let gone = false;
  const wait = {
    ttlMs: leaseMs,
    waitMs: leaseMs,
    pollMs: 100,
    // Another process (cron beside the server, another instance) is refreshing it right now.
    async giveUp() {
      before ??= await deps.registry.getSource(sourceId);
      gone = !before;
      return gone || !options.wait;
    },
  };
  let waitedForOther = false;
  // The record comes with the lease, read under it in the same round trip.
  const refreshed = await deps.registry.withRefreshLease(sourceId, deps.instanceId, wait, async (source) => {
    if (!source) return undefined;
    // We waited for another process's refresh: its result is ours; never fetch twice in a row.
    if (before && source.lastFetchedAt !== before.lastFetchedAt) {
      waitedForOther = true;
      return resultOf(source);
    }
    // The scheduler and cron re-check under the lease, so two of them never fetch within one interval.
    if (options.onlyIfDue && Date.parse(source.nextFetchAt) > deps.now().getTime()) return { outcome: 'skipped' as const, source };
    return refreshLoaded(deps, source, options);
  });
  // That refresh was another process's batch, whose rebuild comes when the batch ends: a caller
  // that rebuilds at once (the refresh route) publishes now, so its answer comes with the feeds.
  if (refreshed.held && waitedForOther && refreshed.value && !options.rebuilds) await rebuildQuietly(deps, refreshed.value.source, options);
  if (refreshed.held) return refreshed.value;
  if (gone || !before) return undefined;
  return { outcome: 'skipped', source: before };
}

/**
 * A refresh whose source ended disabled (its connection removed while the request was out, so
 * saveRefreshed disabled it over the result, good or failed): answered as this caller's refresh of a
 * disabled source is, not with the fetch's outcome — forced (the API's refresh route, `--source`),
 * failed with the removal's error; otherwise (the scheduler, cron's due run, `--all`) skipped.
 */
function disabledMeanwhile(deps: Deps, saved: SourceRecord, options: RefreshOptions): RefreshResult {
  if (skipsDisabled(options)) return { outcome: 'skipped', source: saved };
  const result = resultOf(saved);
  deps.metrics.refreshes.inc({ outcome: result.outcome, error: result.error?.code ?? '' });
  return result;
}

/** The caller leaves a disabled source alone: not forced, or `--all` (skipDisabled). */
function skipsDisabled(options: RefreshOptions): boolean {
  return !options.force || options.skipDisabled === true;
}

function resultOf(source: SourceRecord): RefreshResult {
  if (source.status === 'ok') return { outcome: 'unchanged', source };
  return {
    outcome: 'failed',
    source,
    error: { code: source.lastErrorCode ?? InternalError.code, message: source.lastError ?? source.status },
  };
}

async function refreshLoaded(deps: Deps, source: SourceRecord, options: RefreshOptions): Promise<RefreshResult> {
  const now = deps.now();
  if (isDeferred(source, now)) {
    return { outcome: 'deferred', source };
  }
  if (!isActive(source) && (!options.force || (source.status === 'disabled' && skipsDisabled(options)))) {
    return { outcome: 'skipped', source };
  }

  const started = process.hrtime.bigint();
  let request: SourceRequest;
  try {
    request = await prepareSourceRequest(deps, source);
  } catch (error) {
    // Its connection's read refused by our busy store is no failure of the source (as below).
    if (isStoreBusy(error)) throw error;
    return recordFailure(deps, source, error, [], options);
  }
  // The request last sent: a clock-corrected retry is signed anew, maybe with a relinked token.
  const sent = { request };
  // Redirect targets this refresh indexed before writing the record that lists them.
  let indexedTargets: string[] = [];
  try {
    const response = await fetchWithClockCorrection(deps, source, sent);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    deps.metrics.fetchDuration.observe({ outcome: response.kind }, seconds);
    const fetchedAt = deps.now();
    // A permanent redirect is recorded once its new URL is indexed; when that has to wait past a
    // create's claim of it, the next refresh meets the redirect again and retries.
    const redirect = permanentRedirect(deps, source, response.permanentUrl, request.storedUrl);
    const movedDigests = redirect.urlDigests?.filter((digest) => !source.urlDigests?.includes(digest)) ?? [];
    const recordRedirect = movedDigests.length === 0 || (await indexMovedUrls(deps, source, movedDigests));
    if (recordRedirect) indexedTargets = movedDigests;
    // Masked again whenever the URL, its secrets or the mask's rules changed since, so a record
    // masked under older rules catches up (and an unchanged one is not masked again).
    const masked = maskedUrlFields(source, request);
    const base: SourceRecord = {
      ...source,
      ...afterGoodFetch(fetchedAt),
      ...validatorsOf(response, source, sent.request, masked.urlMaskedFor === source.urlMaskedFor),
      ...masked,
      ...(recordRedirect ? redirect : {}),
    };

    // The cached entries stand as they are: no parse, no entry read, no re-render unless the status changes.
    const keepSnapshot = async (upstreamMinMinutes: number | undefined): Promise<RefreshResult> => {
      if (source.status !== 'ok') await markRebuildPending(deps, source, options);
      base.upstreamMinMinutes = upstreamMinMinutes;
      const saved = await saveRefreshed(deps, source, base, fetchedAt);
      if (!saved) return { outcome: 'skipped', source };
      // No bytes of its own: settles what an earlier refresh of the user left owed.
      await countCachedBytes(deps, source.userId, 0);
      if (source.status !== 'ok' || saved.status === 'disabled') await rebuildQuietly(deps, saved, options);
      if (saved.status === 'disabled') return disabledMeanwhile(deps, saved, options);
      deps.metrics.refreshes.inc({ outcome: 'unchanged', error: '' });
      return { outcome: 'unchanged', source: saved };
    };
    // RFC 9110 §15.4.5: a 304 keeps the snapshot we have, and its document's own interval.
    if (response.kind === 'not-modified')
      return keepSnapshot(
        response.maxAgeSeconds === undefined
          ? source.upstreamMinMinutes
          : (upstreamMinMinutesOf(response.maxAgeSeconds, source.documentTtlMinutes) ?? source.upstreamMinMinutes),
      );

    deps.metrics.bytesFetched.inc(response.body.length);
    const { secrets } = sent.request; // the request answered (a clock-corrected retry may carry a relinked token)
    // Entries cached before a rule or a redirect made a value secret are scrubbed now, gone ones too.
    // Looking through them all costs a whole stringify and scrub of the list: skipped while the
    // secrets and rules are those they were last found scrubbed for (a keyed digest: no secret stored).
    const scrubbedFor = deps.vault.digest(JSON.stringify([SCRUB_RULES, ...secrets]));
    // The document last parsed, byte for byte, under the same conditions (an upstream that sends no
    // validators, or new ones for the same bytes): parsing it again would leave every entry as it is,
    // so it is answered as a 304 is — unless a kept entry's retention ends (only a merge applies it),
    // the entries are not known to be scrubbed for these secrets, or they are no longer what that
    // parse left (anything that wrote them since, or a record written back over a later parse's).
    const documentDigest = documentDigestOf(deps, response, scrubbedFor);
    const sameDocument =
      documentDigest === source.documentDigest &&
      source.entriesScrubbedFor === scrubbedFor &&
      !expiredBy(source.entriesExpireAt, fetchedAt) &&
      source.documentEntriesRevision !== undefined &&
      (await deps.registry.getEntryRevisions([source.id]))[0] === source.documentEntriesRevision;
    if (sameDocument) return keepSnapshot(upstreamMinMinutesOf(response.maxAgeSeconds, source.documentTtlMinutes));
    const stored = await deps.registry.getStoredEntries(source.id);
    const rescrub = source.entriesScrubbedFor !== scrubbedFor && holdsSecrets(stored.entries, secrets);
    const cached = rescrub ? stored.entries.map((entry) => scrubEntry(entry, secrets)) : stored.entries;
    const known = knownEntries(cached);
    const parsed = parseFeed(response.body, { baseUrl: response.finalUrl, contentType: response.contentType, known });
    // A known entry is the cached one, already scrubbed for these secrets (rescrubbed above if not).
    const reused = new Set(known.values());
    const fetched = parsed.entries.map((entry) => (reused.has(entry) ? entry : scrubEntry(entry, secrets)));
    const update = updateCachedEntries(
      cached,
      fetched,
      source.id,
      fetchedAt,
      {
        retentionMs: deps.config.refresh.retentionDays * 24 * 60 * MINUTE,
        maxEntries: deps.config.refresh.maxEntriesPerSource,
        maxBytes: deps.config.limits.maxCachedBytesPerSource,
      },
      rescrub ? undefined : stored.textById,
    );
    // Entries written since this record was (a refresh whose record write then failed, an edit's
    // scrub), or not known to be (a record from before a full refresh wrote the revision on it): what
    // is published may predate them, so it is rebuilt even when this parse changed none.
    const writtenSince = stored.revision !== source.documentEntriesRevision;
    const rebuild = update.changed || rescrub || source.status !== 'ok' || writtenSince;
    // A revision left pending (a writer of an older release killed mid-write) is written out once,
    // or every refresh would find it unrecorded and rebuild.
    const writeEntries = update.dirty || rescrub || cached.length === 0 || stored.revision === null;
    // A batch's pending mark goes with the entries' write, in its atomic step, when there is one.
    if (rebuild && !writeEntries) await markRebuildPending(deps, source, options);
    // A source deleted during the fetch gets these entries too, and saveRefreshed takes them back.
    const entriesRevision = writeEntries
      ? await deps.registry.saveEntries(source.id, update.entries, update.texts, stored, {
          markRebuildPending: rebuild && options.rebuilds !== undefined,
        })
      : stored.revision;
    const upstreamMinMinutes = upstreamMinMinutesOf(response.maxAgeSeconds, parsed.ttlMinutes);
    const saved = await saveRefreshed(
      deps,
      source,
      {
        ...base,
        title: source.title,
        siteUrl: parsed.link ? scrubText(parsed.link, secrets) : source.siteUrl,
        image: parsed.image === undefined ? undefined : scrubText(parsed.image, secrets),
        explicit: parsed.explicit,
        podcast: parsed.podcast === undefined ? undefined : scrubEntry(parsed.podcast, secrets),
        entryCount: update.entries.length,
        cachedBytes: update.bytes,
        // Every entry now cached was scrubbed for these secrets: rescrubbed above, or fetched and scrubbed.
        entriesScrubbedFor: scrubbedFor,
        // Recorded only with the entries' revision it left (none while a write is pending).
        documentDigest: entriesRevision === null ? undefined : documentDigest,
        documentEntriesRevision: entriesRevision ?? undefined,
        documentTtlMinutes: parsed.ttlMinutes,
        entriesExpireAt: firstExpiryOf(update.entries, deps.config.refresh.retentionDays * 24 * 60 * MINUTE),
        upstreamMinMinutes,
      },
      fetchedAt,
    );
    // Deleted meanwhile: saveRefreshed took back what was written.
    if (!saved) return { outcome: 'skipped', source };
    // Edited meanwhile (a new URL, or a value marked secret): the edit scrubbed what was cached, then
    // these entries, scrubbed for the secrets before it, were written behind its back.
    const editedMeanwhile = saved.urlSealed !== source.urlSealed;
    if (editedMeanwhile) {
      // Its feeds are rebuilt below; in a batch, marked first, so a crash before the batch's rebuild
      // still leaves it to be rebuilt (with a rebuild of its own it is marked already, above).
      if (!rebuild) await markRebuildPending(deps, saved, options);
      await scrubCachedEntries(deps, source.id, secretsOfRecord(deps, saved));
    }
    // Counted only when this refresh's record was written (a URL changed meanwhile keeps the other).
    await countCachedBytes(deps, source.userId, saved.urlSealed === source.urlSealed ? update.bytes - (source.cachedBytes ?? 0) : 0);
    if (rebuild && writeEntries && entriesRevision !== null && options.rebuilds)
      options.keepWritten?.(source.id, { revision: entriesRevision, texts: update.texts }, update.bytes);
    // Rescrubbed for an edit: what the edit's own rebuild published may have been read before it.
    // Disabled over this write (its connection removed meanwhile): the feeds name its status.
    if (rebuild || editedMeanwhile || saved.status === 'disabled') await rebuildQuietly(deps, saved, options);
    if (saved.status === 'disabled') return disabledMeanwhile(deps, saved, options);
    const outcome = update.changed ? 'updated' : 'unchanged';
    deps.metrics.refreshes.inc({ outcome, error: '' });
    deps.logger.debug({ sourceId: source.id, host: source.host, added: update.added, updated: update.updated }, 'source refreshed');
    return { outcome, source: saved };
  } catch (error) {
    // Our own store busy (another process holding SQLite's write lock) is no failure of the
    // upstream: the source keeps its status and error count, and the caller hears of the store.
    if (isStoreBusy(error)) throw error;
    deps.metrics.fetchDuration.observe({ outcome: 'error' }, Number(process.hrtime.bigint() - started) / 1e9);
    const failed = await recordFailure(deps, source, error, secretsForFailure(sent.request), options, sent.request.signedWith);
    // Failed after indexing a redirect's target (its document no feed, say): the record does not
    // list it, so the index must not either, or adding that URL would answer 409 for a source that
    // never held it (the next refresh indexes it again when the redirect still leads there).
    if (indexedTargets.length > 0) await unindexUnlisted(deps, source, indexedTargets, await deps.registry.getSource(source.id));
    return failed;
  }
}

/**
 * The secrets to scrub a failure's message with. They are worked out on first read, and that read
 * may be what failed (earlier secrets that no longer open): then the URL's own, so the failure is
 * still recorded and backed off, never thrown out of the refresh.
 */
function secretsForFailure(request: SourceRequest): string[] {
  try {
    return request.secrets;
  } catch {
    return secretValuesOf(request.storedUrl);
  }
}

/** A signed fetch refused for our clock is retried once, signed with the provider's time (`sent` names the retry). */
async function fetchWithClockCorrection(deps: Deps, source: SourceRecord, sent: { request: SourceRequest }): Promise<FeedResponse> {
  try {
    return await deps.fetcher.fetchFeed(sent.request);
  } catch (error) {
    // Only a 401 to our signature can be about our clock (not one from a host a redirect led off to).
    if (!source.connectionId || !isCodedError(error) || error.upstreamStatus !== 401 || !error.upstreamSigned) throw error;
    // A correction that fails leaves the provider's 401 to be recorded — unless our own store was
    // busy (writing the learnt offset): that is no answer of the provider, and the refresh hears of it.
    const corrected = await correctClockSkew(deps, source.userId, source.connectionId, deps.vault.open(source.urlSealed)).catch(
      (correctionError: unknown) => {
        if (isStoreBusy(correctionError)) throw correctionError;
        return false;
      },
    );
    if (!corrected) throw error;
    sent.request = await prepareSourceRequest(deps, source);
    return deps.fetcher.fetchFeed(sent.request);
  }
}

async function recordFailure(
  deps: Deps,
  source: SourceRecord,
  error: unknown,
  secrets: string[],
  options: RefreshOptions,
  signedWith?: string,
): Promise<RefreshResult> {
  const now = deps.now();
  const coded: CodedError = isCodedError(error) ? error : new InternalError('Internal error while refreshing');
  if (!isCodedError(error)) {
    deps.logger.error(
      { sourceId: source.id, host: source.host, err: scrubText(String((error as Error)?.stack ?? error), secrets) },
      'refresh failed unexpectedly',
    );
  }
  const message = scrubMessage(coded.message, secrets);
  const upstreamStatus = coded.upstreamStatus;
  // Its connection was removed (a user's forced refresh of the disabled source): nothing can sign
  // for it any more, so it stays disabled rather than retrying on a schedule.
  const connectionRemoved =
    upstreamStatus !== 410 &&
    source.connectionId !== undefined &&
    coded.code === NotFoundError.code &&
    !(await deps.registry.getConnection(source.connectionId));
  const outcome = afterFailure(
    deps.config.refresh,
    source,
    { code: coded.code, upstreamStatus, retryAfterMs: coded.retryAfterMs, connectionRemoved },
    now,
  );
  const { status, errorCount } = outcome;
  const lastError = connectionRemoved ? CONNECTION_REMOVED : message;
  const result: SourceRecord = {
    ...source,
    ...outcome,
    lastError,
    lastErrorCode: coded.code,
    lastFetchedAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  // A signed source refused answers the token its request was signed with (none when the refusing
  // hop carried no signature: a redirect off the provider's origin), so it is recorded only while the
  // connection still holds that token. A 401 refuses the credentials: it marks the connection, then
  // its other sources. A 403 refuses this resource to a token the provider accepted (RFC 9110
  // §15.5.2, §15.5.4): it marks the source alone.
  const refusedLink =
    status === 'unauthorized' && source.connectionId !== undefined && signedWith !== undefined && coded.upstreamSigned
      ? { connectionId: source.connectionId, signedWith }
      : undefined;
  // The connection before the source: a busy store between the two writes then leaves the source
  // ok and due, so its next refresh meets the 401 again, never an unauthorized source (scheduled no
  // more) behind a connection still called connected.
  const linkMark =
    refusedLink === undefined
      ? undefined
      : upstreamStatus === 401
        ? await markConnectionUnauthorized(deps, refusedLink)
        : (await holdsToken(deps, refusedLink))
          ? 'kept'
          : 'replaced';
  if (linkMark === 'replaced') {
    // Relinked or removed during the fetch: the answer is about a token the connection no longer
    // holds, not about the source as it is now. Relinked, it is left due and fetched with the new link.
    deps.logger.info({ sourceId: source.id, host: source.host, upstreamStatus }, 'refusal of a replaced OAuth token not recorded');
    if (refusedLink !== undefined && !(await deps.registry.getConnection(refusedLink.connectionId)))
      return refusedAfterRemoval(deps, source, options);
    return { outcome: 'skipped', source };
  }
  if (source.status !== status) await markRebuildPending(deps, source, options);
  const failed = await saveRefreshed(deps, source, result);
  if (failed && source.status !== failed.status) await rebuildQuietly(deps, failed, options);
  if (refusedLink !== undefined && linkMark !== undefined) {
    const settled = await settleRefusedLink(deps, refusedLink, linkMark, source, failed, options);
    if (settled) return settled;
  }
  if (!failed) return { outcome: 'skipped', source };
  // Disabled by its connection's removal: over this write, or by this failure itself when the removal
  // had deleted the connection but not yet disabled the source (not a 410's own disabling).
  if (failed.status === 'disabled' && (status !== 'disabled' || connectionRemoved)) return disabledMeanwhile(deps, failed, options);
  deps.metrics.refreshes.inc({ outcome: 'failed', error: coded.code });
  deps.logger.info({ sourceId: source.id, host: source.host, code: coded.code, upstreamStatus, errorCount }, 'source refresh failed');
  return { outcome: 'failed', source: failed, error: { code: coded.code, message: lastError } };
}

/**
 * A signed refusal answered after its connection was removed (the request signed before): the
 * removal disables the source, so this refresh answers as its caller's refresh of the disabled source
 * does (disabledMeanwhile), as a good or a failed fetch written after the removal does. The refusal is
 * not recorded — it answers a token no longer held. A source the removal has not disabled yet (it
 * deleted the connection and has still to write its sources) is disabled here, as such a good fetch's
 * is; a disabling left undone (a busy store, a record that kept changing) leaves it skipped, for the
 * next refresh to disable.
 */
async function refusedAfterRemoval(deps: Deps, source: SourceRecord, options: RefreshOptions): Promise<RefreshResult> {
  const current = await deps.registry.getSource(source.id);
  if (!current) return { outcome: 'skipped', source };
  if (current.status !== 'disabled') await markRebuildPending(deps, current, options);
  const disabled = await keepDisabledIfConnectionRemoved(deps, current);
  if (disabled.status !== 'disabled') return { outcome: 'skipped', source: disabled };
  if (current.status !== 'disabled') await rebuildQuietly(deps, disabled, options);
  return disabledMeanwhile(deps, disabled, options);
}

/**
 * Writes a refresh's result onto the record as it is now, not as it was before the fetch: a title
 * or interval edited meanwhile is kept, a source deleted meanwhile stays deleted (undefined), and a
 * result fetched from a URL the user has since replaced is dropped. With `scheduleFrom`, the next
 * fetch is planned from the merged record's interval. A signed source whose connection was removed
 * meanwhile stays disabled.
 */
async function saveRefreshed(
  deps: Deps,
  fetchedFrom: SourceRecord,
  result: SourceRecord,
  scheduleFrom?: Date,
): Promise<SourceRecord | undefined> {
  const saved = await writeRefreshed(deps, fetchedFrom, result, scheduleFrom);
  return saved === undefined ? undefined : keepDisabledIfConnectionRemoved(deps, saved);
}

async function writeRefreshed(
  deps: Deps,
  fetchedFrom: SourceRecord,
  result: SourceRecord,
  scheduleFrom?: Date,
): Promise<SourceRecord | undefined> {
  // The common case, nothing edited or deleted meanwhile: one compare-and-set, no read. Every
  // caller hands a record of its own making, so it is planned in place rather than copied again.
  const planned = result;
  if (scheduleFrom) planned.nextFetchAt = nextFetchAfter(deps.config.refresh, result, scheduleFrom);
  if (await deps.registry.saveRefreshedSource(planned, fetchedFrom)) return planned;
  const current = await deps.registry.getSource(fetchedFrom.id);
  if (!current) {
    // Deleted during the fetch: take back any entries this refresh wrote (deleting is idempotent).
    await deps.registry.deleteSource(fetchedFrom);
    return undefined;
  }
  if (current.urlSealed !== fetchedFrom.urlSealed) {
    // A redirect target this refresh indexed, dropped with its record write: out of the index again.
    const targets = (result.urlDigests ?? []).filter((digest) => !fetchedFrom.urlDigests?.includes(digest));
    await unindexUnlisted(deps, fetchedFrom, targets, current);
    return current;
  }
  const merged: SourceRecord = { ...result, title: current.title, refreshMinutes: current.refreshMinutes };
  if (scheduleFrom) merged.nextFetchAt = nextFetchAfter(deps.config.refresh, merged, scheduleFrom);
  await deps.registry.saveSource(merged);
  // A delete that ran between the read and the write would be undone by it: finish the delete.
  if (!(await deps.registry.isSourceListed(merged.id))) {
    await deps.registry.deleteSource(merged);
    return undefined;
  }
  return merged;
}

/**
 * A signed source's result written after its connection was removed (its request signed before):
 * the removal may have disabled the source before this write, which brought it back. Read after the
 * write, so a removal that listed the source later disabled it over this write itself; otherwise it
 * is disabled again here, over the record as written (rewriteSource: a write since keeps its fields).
 */
async function keepDisabledIfConnectionRemoved(deps: Deps, saved: SourceRecord): Promise<SourceRecord> {
  if (saved.connectionId === undefined || saved.status === 'disabled') return saved;
  if (await deps.registry.getConnection(saved.connectionId)) return saved;
  const now = deps.now().toISOString();
  const work = 'disabling a source of a removed connection';
  try {
    const disabled = await rewriteSource(
      deps,
      saved,
      (base) => (base.status === 'disabled' ? undefined : disabledByRemoval(base, now)),
      'the source kept changing while a refresh disabled it (its connection removed)',
    );
    // This refresh's write stands whatever came after it (a delete since took its bytes back with
    // it): what is answered is the source as disabled, or as it is now, or as written.
    return disabled?.written ?? (await deps.registry.getSource(saved.id)) ?? saved;
  } catch (error) {
    // Left undone, the result written stands until the next refresh finds the connection gone and disables it.
    if (isStoreBusy(error)) {
      deps.logger.warn({ sourceId: saved.id, err: (error as Error).message }, `${work} put off: the store is busy`);
      return saved;
    }
    if (!leftToNextWrite(deps, error, work, { sourceId: saved.id, host: saved.host })) throw error;
    return saved;
  }
}

/**
 * Redirect targets a refresh indexed (indexMovedUrls, before its record write) that the record as
 * stored does not list — its write dropped for an edit of the URL, or the refresh failed after — taken
 * out of the index again, so they do not answer 409 for a URL the source does not hold (only where
 * they still name this source; one left by a delete names no source, which the duplicate check skips).
 */
async function unindexUnlisted(deps: Deps, source: SourceRecord, targets: string[], stored: SourceRecord | undefined): Promise<void> {
  const dropped = targets.filter((digest) => !stored?.urlDigests?.includes(digest));
  if (dropped.length > 0) await deps.registry.unindexSourceUrls(source.userId, source.id, dropped);
}

/**
 * RFC 9110 §15.4.2/§15.4.9: only permanent redirects update the stored URL. The old URL's secrets
 * stay the source's: the new location often repeats them (`/newhome/<token>/feed`).
 */
function permanentRedirect(deps: Deps, source: SourceRecord, permanentUrl: string | undefined, storedUrl: string): Partial<SourceRecord> {
  if (!permanentUrl || source.connectionId) return {};
  return {
    ...sourceUrlFields(deps, source, permanentUrl, [storedUrl]),
    host: new URL(permanentUrl).host,
    // The new location answers to this source too: adding it again is a duplicate (409).
    urlDigests: [...new Set([...(source.urlDigests ?? []), ...urlDigestsOf(deps, [permanentUrl])])],
  };
}

/** The connection a signed request was made with, and the token it was signed with (as sealed on the record). */
interface RefusedLink {
  connectionId: string;
  signedWith: string;
}

/** True while the connection holds the token the refused request was signed with (not relinked or removed since). */
async function holdsToken(deps: Deps, link: RefusedLink): Promise<boolean> {
  return (await deps.registry.getConnection(link.connectionId))?.accessTokenSealed === link.signedWith;
}

/**
 * The connection marked unauthorized for a provider's 401 to the token it was signed with, in one
 * compare-and-set over the record read: 'marked' by this call, 'already' by an earlier 401 to the
 * same token, 'replaced' when a relink (a new token) or a delete landed since — an answer to the old
 * token says nothing about the link as it is, and never undoes a relink. A relink begun since the
 * read (a pending request token on the record) is read again, and kept.
 */
async function markConnectionUnauthorized(deps: Deps, link: RefusedLink): Promise<'marked' | 'already' | 'replaced'> {
  for (let attempt = 0; ; attempt++) {
    const connection = await deps.registry.getConnection(link.connectionId);
    if (!connection || connection.accessTokenSealed !== link.signedWith) return 'replaced';
    if (connection.status === 'unauthorized') return 'already';
    const marked = { ...connection, status: 'unauthorized' as const, updatedAt: deps.now().toISOString() };
    if (await deps.registry.saveConnectionIfUnchanged(marked, connection)) return 'marked';
    // Written since the read: the next read says what by. A record that keeps changing under us (or
    // a delete under way, unlisted before its record goes) is left to the next refresh's 401.
    if (attempt === 2) return 'replaced';
  }
}

/**
 * After a signed source's refusal is written. A 401 that marked the connection (or found it marked
 * by an earlier one whose own source write was refused) marks its other sources, while it is still
 * unauthorized with the refused token. Then, a relink that landed meanwhile — before this source's
 * write or while the others were marked, after the relink had put its unauthorized sources back —
 * gets this source and those marked here put back the same way; a delete, this source disabled as
 * the delete disables the others. Answers the result when this source was written again: skipped
 * after a relink, and after a delete what this caller's refresh of the disabled source answers.
 */
async function settleRefusedLink(
  deps: Deps,
  link: RefusedLink,
  mark: 'marked' | 'already' | 'kept',
  source: SourceRecord,
  failed: SourceRecord | undefined,
  options: RefreshOptions,
): Promise<RefreshResult | undefined> {
  let connection = await deps.registry.getConnection(link.connectionId);
  const marked: SourceRecord[] = [];
  if (
    mark !== 'kept' &&
    (mark === 'marked' || source.status !== 'unauthorized') &&
    connection?.accessTokenSealed === link.signedWith &&
    connection.status === 'unauthorized'
  ) {
    marked.push(...(await markSourcesOfConnectionUnauthorized(deps, link.connectionId, options)));
    if (marked.length > 0) connection = await deps.registry.getConnection(link.connectionId);
  }
  if (connection?.accessTokenSealed === link.signedWith) return undefined;
  const now = deps.now().toISOString();
  const undo = (record: SourceRecord): SourceRecord =>
    connection === undefined ? disabledByRemoval(record, now) : { ...record, ...resetForRetry(now) };
  // Each over the mark as written (a compare-and-set): one written over since — the relink's own
  // reset, a refresh with the new token, an edit — already says what it should.
  for (const sibling of marked) {
    try {
      const undone = undo(sibling);
      if (await deps.registry.saveEditedSource(undone, sibling)) await rebuildQuietly(deps, undone, options);
    } catch (error) {
      if (!isStoreBusy(error)) throw error;
      logBackgroundFailure(deps.logger, error, 'putting back a source of a relinked connection', { sourceId: sibling.id });
    }
  }
  if (failed?.status !== 'unauthorized') return undefined;
  const undone = undo(failed);
  let settled = undone;
  if (await deps.registry.saveEditedSource(undone, failed)) await rebuildQuietly(deps, undone, options);
  else settled = (await deps.registry.getSource(failed.id)) ?? failed;
  // Removed: disabled over this refusal, by this call or by the removal itself, so answered as this
  // caller's refresh of the disabled source. Relinked: put back and due, its refusal no answer (skipped).
  if (connection === undefined && settled.status === 'disabled') return disabledMeanwhile(deps, settled, options);
  return { outcome: 'skipped', source: settled };
}

/**
 * The other sources of a connection marked unauthorized, so they say so at once; answers those
 * marked, as written. One left unmarked (a busy store: logged at warn, the refresh's own result
 * stands) is still scheduled, and meets the provider's 401 itself. Each is written over the record as
 * listed (a compare-and-set): one edited, refreshed or deleted meanwhile keeps that, and is left to
 * its own next refresh.
 */
async function markSourcesOfConnectionUnauthorized(deps: Deps, connectionId: string, options: RefreshOptions): Promise<SourceRecord[]> {
  const now = deps.now().toISOString();
  const done: SourceRecord[] = [];
  for (const dependent of await deps.registry.listSourcesOfConnection(connectionId)) {
    if (dependent.status === 'unauthorized' || dependent.status === 'disabled') continue;
    const marked: SourceRecord = {
      ...dependent,
      status: 'unauthorized',
      lastError: 'The connection was refused by the provider',
      updatedAt: now,
    };
    try {
      await markRebuildPending(deps, dependent, options);
      // Over the record as listed: one refreshed, edited or deleted since keeps that.
      if (!(await deps.registry.saveEditedSource(marked, dependent))) continue;
    } catch (error) {
      if (!isStoreBusy(error)) throw error;
      logBackgroundFailure(deps.logger, error, 'marking a source of a refused connection', { sourceId: dependent.id });
      continue;
    }
    done.push(marked);
    await rebuildQuietly(deps, dependent, options);
  }
  return done;
}

/**
 * A batch's rebuild comes later: it is marked in the store before the write it follows (or with it:
 * the entries' write carries the mark), so a process killed in between leaves the mark, and the
 * scheduler rebuilds it (scheduler.ts). The batch's rebuild clears it; a crash before the write
 * costs one needless rebuild.
 */
async function markRebuildPending(deps: Deps, source: SourceRecord, options: RefreshOptions): Promise<void> {
  if (options.rebuilds) await deps.registry.markRebuildPending(source.id);
}

async function rebuildQuietly(deps: Deps, source: SourceRecord, options: RefreshOptions): Promise<void> {
  if (options.rebuilds) {
    options.rebuilds.add(source.id);
    return;
  }
  try {
    await rebuildFeedsOfSource(deps, source.id);
  } catch (error) {
    if (!isStoreBusy(error)) {
      deps.logger.error({ sourceId: source.id, err: (error as Error).message }, 'rebuilding feeds failed');
      return;
    }
    // Left to the scheduler's pending pass (or `feedproxy refresh`'s) for when the store answers:
    // unmarked, the published feeds would stay behind until the source next changes.
    await deps.registry.markRebuildPending(source.id).then(
      () => logBackgroundFailure(deps.logger, error, 'rebuilding feeds', { sourceId: source.id }),
      (markError: unknown) => logBackgroundFailure(deps.logger, markError, 'marking feeds for a later rebuild', { sourceId: source.id }),
    );
  }
}

/**
 * A keyed digest of a fetched document and of everything its parse and cache update depend on
 * besides the cached entries themselves: the parser's version, where it came from (the base of its
 * relative URLs), its type and max-age, the secrets it is scrubbed for and the cache's limits.
 */
function documentDigestOf(deps: Deps, response: FeedResponse & { kind: 'ok' }, scrubbedFor: string): string {
  const { retentionDays, maxEntriesPerSource } = deps.config.refresh;
  return deps.vault.digest(
    JSON.stringify([
      VERSION,
      NORMALISER_VERSION,
      response.finalUrl,
      response.contentType ?? null,
      response.maxAgeSeconds ?? null,
      scrubbedFor,
      retentionDays,
      maxEntriesPerSource,
      deps.config.limits.maxCachedBytesPerSource,
      hash('sha256', response.body, 'base64url'),
    ]),
  );
}

/**
 * The validators to keep (ETag, Last-Modified): checked for the request's secrets on every full answer
 * (so one stored before a value was secret goes too), and on a 304 only where one changed — a 304 with
 * those stored, the common case, costs nothing more.
 */
function validatorsOf(
  response: FeedResponse,
  source: SourceRecord,
  request: SourceRequest,
  /** The record's secret fields were checked under the current rules (its mask is current): see MASK_RULES. */
  checkedUnderCurrentRules: boolean,
): Pick<SourceRecord, 'etag' | 'lastModified'> {
  const etag = response.etag ?? source.etag;
  const lastModified = response.lastModified ?? source.lastModified;
  if (checkedUnderCurrentRules && response.kind === 'not-modified' && etag === source.etag && lastModified === source.lastModified) {
    return { etag, lastModified };
  }
  const { secrets } = request;
  return { etag: validatorToKeep(etag, secrets), lastModified: validatorToKeep(lastModified, secrets) };
}

/** When the first entry no longer in the document leaves the cache (update-cache.ts applies it): undefined when none is gone. */
function firstExpiryOf(entries: CachedEntry[], retentionMs: number): string | undefined {
  // Whole milliseconds: update-cache keeps an entry while now − goneSince ≤ retentionMs, which for
  // times in whole milliseconds is the floor of a fractional retention (retentionDays 0.3).
  const retention = Math.floor(retentionMs);
  let first = Infinity;
  for (const entry of entries) if (entry.goneSince !== undefined) first = Math.min(first, Date.parse(entry.goneSince) + retention);
  return Number.isFinite(first) ? new Date(first).toISOString() : undefined;
}

/** True once `now` is past an expiry recorded by firstExpiryOf (update-cache.ts keeps an entry up to its retention, inclusive). */
function expiredBy(expiresAt: string | undefined, now: Date): boolean {
  return expiresAt !== undefined && now.getTime() > Date.parse(expiresAt);
}

function holdsSecrets(entries: CachedEntry[], secrets: string[]): boolean {
  const text = JSON.stringify(entries);
  return scrubText(text, secrets) !== text;
}

/** The cached entries by the fingerprint of the item each was made from, as parse/ made them. */
function knownEntries(cached: CachedEntry[]): Map<string, Entry> {
  const known = new Map<string, Entry>();
  for (const { sourceId: _sourceId, firstSeenAt: _firstSeenAt, goneSince: _goneSince, canonicalLink: _canonicalLink, ...entry } of cached) {
    if (entry.fingerprint !== undefined) known.set(entry.fingerprint, entry);
  }
  return known;
}
