// OAuth 1.0a connections: the three-legged flow from the API and the callback, discovery, and
// removal. Tokens live sealed in the connection record; signing for sources is oauth/signed-requests.ts.
import type { Deps } from '../deps.js';
import { BadRequestError, ConflictError } from '../errors.js';
import { buildAuthorizeUrl, discoverFeeds, getAccessToken, getRequestToken, type FeedLink, type OAuthToken } from '../oauth/client.js';
import { connected, disabledByRemoval, getOwnedConnectionOrThrow, providerOf } from '../oauth/signed-requests.js';
import type { ConnectionRecord } from '../model.js';
import { resetForRetry } from '../model/source-policy.js';
import { isStoreBusy } from '../store/kv.js';
import { lease } from '../store/leases.js';
import { logBackgroundFailure } from '../store-unavailable.js';
import { leftToNextWrite, republish, rewriteSource } from './sources.js';
import { randomToken, sha256Hex } from '../vault/seal.js';

export const CALLBACK_PATH = '/oauth/callback';
const DEFAULT_REQUEST_TOKEN_TTL_SECONDS = 15 * 60;
/**
 * New connections a user may have waiting for their first authorization. Each is a record, its
 * request-token index and a set member the user gets for a POST, and a call to the provider: without
 * a bound, a script could store them by the hundred thousand. A connected one took the user's
 * authorization at the provider, so only pending ones are counted (a relink adds no record).
 */
export const MAX_PENDING_CONNECTIONS = 10;
/**
 * How long a never-authorized connection is kept past the expiry of its authorization link before a
 * new start removes it: a callback that passed the expiry check may still be exchanging its token
 * (the provider's answer may take the fetch timeout, up to 10 minutes).
 */
const EXPIRED_PENDING_KEPT_MS = 15 * 60_000;
/** How long a start waits for the same user's start under way (the provider's answer) before a 409. */
const START_WAIT_MS = 10_000;
const START_LEASE_MS = 30_000;

/** Request tokens are looked up by hash: the store never holds one in clear, not even as a key. */
function tokenHash(token: string): string {
  return sha256Hex(token);
}

/**
 * Step 1: a request token with our callback, and where to send the user's browser. With an
 * existing connection id this relinks it: its sources stay attached and resume once connected.
 */
export async function startConnection(
  deps: Deps,
  userId: string,
  providerId: string,
  existingId?: string,
): Promise<{ connection: ConnectionRecord; authorizeUrl: string }> {
  const previous = existingId ? await getOwnedConnectionOrThrow(deps, userId, existingId) : undefined;
  const provider = providerOf(deps, previous?.provider ?? providerId);
  if (previous) return requestAuthorization(deps, userId, provider, previous);
  // One new start of the user's at a time: the bound is checked and the connection saved under the lease.
  const owner = `${deps.instanceId}:${randomToken(6)}`;
  const started = await deps.registry.leases.withLease(
    lease.connectionStart(userId),
    owner,
    { ttlMs: START_LEASE_MS, waitMs: START_WAIT_MS, pollMs: 25 },
    async () => {
      await makeRoomForPending(deps, userId);
      return requestAuthorization(deps, userId, provider);
    },
  );
  if (!started.held) throw new ConflictError('Another connection of yours is being started; try again in a moment.');
  return started.value;
}

/**
 * Removes the user's connections never authorized whose authorization link expired (past
 * EXPIRED_PENDING_KEPT_MS), and refuses a new one while MAX_PENDING_CONNECTIONS others wait: before
 * the provider is asked for a request token. A connection that was ever connected is never removed
 * here: its sources hang on it, and a relink brings it back.
 */
async function makeRoomForPending(deps: Deps, userId: string): Promise<void> {
  const now = deps.now().getTime();
  const pending = (await deps.registry.listConnections(userId)).filter((connection) => connection.accessTokenSealed === undefined);
  const waiting = [];
  for (const connection of pending) {
    if (pendingExpiresAt(deps, connection) + EXPIRED_PENDING_KEPT_MS < now) await deps.registry.deleteConnection(connection);
    else waiting.push(connection);
  }
  if (waiting.length >= MAX_PENDING_CONNECTIONS)
    throw new ConflictError(
      `You have ${waiting.length} connections waiting for authorization (at most ${MAX_PENDING_CONNECTIONS}): ` +
        'authorize one, or remove one you no longer need (DELETE /api/v1/connections/:id), then start again. ' +
        `One never authorized is removed by the next start ${Math.round(EXPIRED_PENDING_KEPT_MS / 60_000)} minutes after its link expired.`,
    );
}

/**
 * When a never-authorized connection's authorization link expires. One whose request was used by a
 * callback whose exchange then failed holds none any more: it counts from its start, as its link did.
 */
function pendingExpiresAt(deps: Deps, connection: ConnectionRecord): number {
  if (connection.requestExpiresAt !== undefined) return Date.parse(connection.requestExpiresAt);
  const ttlSeconds = deps.config.providers[connection.provider]?.requestTokenTtlSeconds ?? DEFAULT_REQUEST_TOKEN_TTL_SECONDS;
  return Date.parse(connection.updatedAt) + ttlSeconds * 1000;
}

/** A request token from the provider, written as a new pending connection or over the relinked one. */
async function requestAuthorization(
  deps: Deps,
  userId: string,
  provider: ReturnType<typeof providerOf>,
  previous?: ConnectionRecord,
): Promise<{ connection: ConnectionRecord; authorizeUrl: string }> {
  const settings = deps.config.providers[provider.id]!;
  const callbackUrl = settings.outOfBand ? 'oob' : `${deps.config.publicUrl}${CALLBACK_PATH}`;
  const requestToken = await getRequestToken(provider, deps.fetcher, callbackUrl);
  const now = deps.now();
  const request: PendingRequest = {
    requestTokenSealed: deps.vault.seal(requestToken.token),
    requestSecretSealed: deps.vault.seal(requestToken.secret),
    requestTokenHash: tokenHash(requestToken.token),
    requestExpiresAt: new Date(now.getTime() + (settings.requestTokenTtlSeconds ?? DEFAULT_REQUEST_TOKEN_TTL_SECONDS) * 1000).toISOString(),
    updatedAt: now.toISOString(),
  };
  let connection: ConnectionRecord;
  if (!previous) {
    connection = {
      id: randomToken(9),
      userId,
      provider: provider.id,
      params: {},
      createdAt: now.toISOString(),
      status: 'pending',
      ...request,
    };
    await deps.registry.saveConnection(connection);
  } else connection = await saveRelinkStart(deps, previous, request);
  deps.logger.info({ connectionId: connection.id, userId, provider: provider.id }, 'oauth connection started');
  return { connection, authorizeUrl: buildAuthorizeUrl(provider, requestToken) };
}

type PendingRequest = Pick<
  ConnectionRecord,
  'requestTokenSealed' | 'requestSecretSealed' | 'requestTokenHash' | 'requestExpiresAt' | 'updatedAt'
>;

/**
 * A relink's pending request written over the connection as it is now (a compare-and-set, read again
 * up to three times), while it still holds the link `previous` held: a removal or another relink
 * begun while the provider answered wins (409), and a removed connection is not written back. The
 * status is the record's as it is then — a relink keeps a connected link working until the new token
 * arrives, and a 401 that marked it `unauthorized` meanwhile stands (pending) rather than being
 * written over with `connected` — and a clock offset learnt meanwhile is kept.
 */
async function saveRelinkStart(deps: Deps, previous: ConnectionRecord, request: PendingRequest): Promise<ConnectionRecord> {
  const started = await writeOverSameLink(deps, previous, (current) => ({
    ...current,
    ...request,
    status: current.status === 'connected' ? 'connected' : 'pending',
  }));
  // Gone, relinked since, or changing under every read: the user starts again.
  if (!started) throw new ConflictError('This connection was removed or relinked while the relink started. Start it again.');
  return started;
}

/**
 * `next` of the connection as it is now, written by compare-and-set (read again up to three times)
 * while it still holds the link `read` held (its access token and pending request). Undefined when
 * it is gone, holds another link since, or changed under every read.
 */
async function writeOverSameLink(
  deps: Deps,
  read: ConnectionRecord,
  next: (current: ConnectionRecord) => ConnectionRecord,
): Promise<ConnectionRecord | undefined> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const current = await deps.registry.getConnection(read.id);
    if (!current || current.accessTokenSealed !== read.accessTokenSealed || current.requestTokenHash !== read.requestTokenHash)
      return undefined;
    const written = next(current);
    if (await deps.registry.saveConnectionIfUnchanged(written, current)) return written;
  }
  return undefined;
}

/** A connection as the callback linked it, and how many of its sources a busy store kept from resuming yet. */
export interface LinkedConnection {
  connection: ConnectionRecord;
  /** Left `unauthorized` for now: the scheduler's next tick (or `feedproxy refresh`) puts them back. */
  sourcesLeft: number;
}

/** Step 3 from the provider's redirect: the request token names the connection. */
export async function completeConnectionFromCallback(
  deps: Deps,
  oauthToken: string,
  verifier: string | undefined,
): Promise<LinkedConnection> {
  const connection = await deps.registry.findConnectionByRequestTokenHash(tokenHash(oauthToken));
  if (!connection) throw new BadRequestError('This authorization link is unknown or was already used. Start the connection again.');
  return exchange(deps, connection, verifier);
}

/** Step 3 for out-of-band providers: the user pastes the verifier the provider showed them. */
export async function verifyConnection(deps: Deps, userId: string, id: string, verifier: string): Promise<ConnectionRecord> {
  const connection = await getOwnedConnectionOrThrow(deps, userId, id);
  if (!connection.requestTokenHash)
    throw new BadRequestError(
      'This connection is not waiting for a verifier: relink it (POST /api/v1/connections/:id/relink) to get a new one.',
    );
  return (await exchange(deps, connection, verifier)).connection;
}

async function exchange(deps: Deps, connection: ConnectionRecord, verifier: string | undefined): Promise<LinkedConnection> {
  const now = deps.now();
  if (!connection.requestTokenSealed || !connection.requestSecretSealed || !connection.requestExpiresAt) {
    throw new BadRequestError('This connection is not waiting for authorization. Start it again.');
  }
  if (Date.parse(connection.requestExpiresAt) < now.getTime()) {
    throw new BadRequestError('This authorization link has expired. Start the connection again.');
  }
  const requestToken: OAuthToken = {
    token: deps.vault.open(connection.requestTokenSealed),
    secret: deps.vault.open(connection.requestSecretSealed),
  };
  // Single use: forget the request token before the exchange, so a replayed callback finds nothing.
  const pendingFree: ConnectionRecord = {
    ...connection,
    requestTokenSealed: undefined,
    requestSecretSealed: undefined,
    requestTokenHash: undefined,
    requestExpiresAt: undefined,
  };
  // Both writes hold only while the connection is still listed with the link read (saveConnectionIfSameLink):
  // a replayed callback, a relink begun again or a removal landing meanwhile wins, and a removed
  // connection is not written back; a refresh's mark of the old token meanwhile is not in the way.
  if (!(await deps.registry.saveConnectionIfSameLink(pendingFree, connection)))
    throw new BadRequestError('This authorization link is unknown or was already used. Start the connection again.');
  const provider = providerOf(deps, connection.provider);
  const access = await getAccessToken(provider, deps.fetcher, requestToken, verifier || undefined);
  const link: NewLink = {
    status: 'connected',
    accessTokenSealed: deps.vault.seal(access.token),
    accessSecretSealed: deps.vault.seal(access.secret),
    params: access.params,
    updatedAt: deps.now().toISOString(),
  };
  // A relink owes its sources their put-back from the moment the new link is written: marked before
  // that write, so a put-back a busy store cuts short is finished by the scheduler (putBackPendingSources).
  const relinked = connection.accessTokenSealed !== undefined;
  if (relinked) await deps.registry.markPutBackPending(connection.id);
  const connected = await saveLink(deps, pendingFree, link);
  const putBack: PutBack = relinked ? await putBackSources(deps, connection.id, connected.updatedAt) : { left: 0 };
  if (putBack.busy !== undefined) logBackgroundFailure(deps.logger, putBack.busy, PUT_BACK, { connectionId: connection.id });
  const sourcesLeft = putBack.left;
  deps.logger.info({ connectionId: connection.id, provider: provider.id, sourcesLeft }, 'oauth connection completed');
  return { connection: connected, sourcesLeft };
}

type NewLink = Pick<ConnectionRecord, 'status' | 'accessTokenSealed' | 'accessSecretSealed' | 'params' | 'updatedAt'>;

/**
 * The new link written over the connection as it is now, while it still holds the link `pendingFree`
 * held (a removal or a relink begun since wins: 409): a refresh's mark of the old token meanwhile is
 * written over, and a clock offset it learnt is kept — it is the provider's clock, not the token's.
 * A record that keeps changing under it gets the link over the record read, without that offset.
 */
async function saveLink(deps: Deps, pendingFree: ConnectionRecord, link: NewLink): Promise<ConnectionRecord> {
  const over = await writeOverSameLink(deps, pendingFree, (current) => ({ ...current, ...link }));
  if (over) return over;
  const connected: ConnectionRecord = { ...pendingFree, ...link };
  if (!(await deps.registry.saveConnectionIfSameLink(connected, pendingFree)))
    throw new ConflictError('This connection was removed or started again while it was being authorized. Start it again.');
  return connected;
}

const PUT_BACK = 'putting back a source of a relinked connection';

/** What a put-back left: how many sources are still owed, and the busy store's refusal that ended it. */
interface PutBack {
  left: number;
  busy?: unknown;
}

/**
 * A relinked connection's sources were waiting: each still `unauthorized` is retried as any source a
 * user edits back to life (due now, a Retry-After it was given forgotten too), over the record as it
 * is (rewriteSource). Its feeds' rebuild is marked pending before its write (as a refresh marks it),
 * so a crash or a busy store after leaves them to the scheduler's pending pass. One that kept
 * changing is left to its own next write and the others go on; a busy store's refusal ends the
 * put-back there — each write after it would wait out the busy timeout too — and every source still
 * unauthorized from there on is left. The connection stays in the pending set until none is.
 */
async function putBackSources(deps: Deps, connectionId: string, now: string): Promise<PutBack> {
  const sources = await deps.registry.listSourcesOfConnection(connectionId);
  let left = 0;
  const changed = new Set<string>();
  for (const [index, source] of sources.entries()) {
    try {
      if (source.status === 'unauthorized') {
        await deps.registry.markRebuildPending(source.id);
        changed.add(source.id);
      }
      const written = await rewriteSource(
        deps,
        source,
        (base) => (base.status === 'unauthorized' ? { ...base, ...resetForRetry(now) } : undefined),
        "the source kept changing while its connection's relink put it back",
      );
      if (written) changed.add(source.id);
    } catch (error) {
      if (isStoreBusy(error)) {
        // This one and every one after it still unauthorized as listed: the mark set before the link's write stands.
        left += sources.slice(index).filter((later) => later.status === 'unauthorized' || later.id === source.id).length;
        return { left, busy: error };
      }
      if (!leftToNextWrite(deps, error, PUT_BACK, { connectionId, sourceId: source.id })) throw error;
      left += 1;
    }
  }
  // Some left: the mark set before the link's write stands (only the connection's removal takes it
  // down early). None: cleared; refused, the mark stays and a tick puts back a source refused since (fetched once more).
  if (left === 0)
    await deps.registry
      .unmarkPutBackPending(connectionId)
      .catch((error: unknown) => logBackgroundFailure(deps.logger, error, 'settling a put-back', { connectionId }));
  // Unauthorized no more: a feed whose sources all were may lose its stale marker at once.
  await republish(deps, [...changed]);
  return { left };
}

/**
 * Finishes what relinks left of their put-back (a busy store): run by the scheduler's tick and by
 * `feedproxy refresh` before they pick due sources, so the sources put back are fetched at once.
 */
export async function putBackPendingSources(deps: Deps): Promise<void> {
  for (const connectionId of await deps.registry.pendingPutBackConnectionIds()) {
    try {
      const connection = await deps.registry.getConnection(connectionId);
      // Removed since (the removal disables its sources): nothing owed. Not connected — a relink's
      // callback under way (marked before its link is written), or refused again since — it stays
      // owed: put back once the connection is connected again (by this pass, or by a relink's own put-back).
      if (!connection) await deps.registry.unmarkPutBackPending(connectionId);
      else if (connection.status === 'connected') {
        const { busy } = await putBackSources(deps, connectionId, deps.now().toISOString());
        if (busy !== undefined) throw busy;
      }
    } catch (error) {
      // Busy: the first refused write ends the pass — the rest would wait out the busy timeout one by
      // one — and the caller puts it off. Any other failure is this connection's: logged, kept
      // pending, and the tick goes on to its refreshes.
      if (isStoreBusy(error)) throw error;
      logBackgroundFailure(deps.logger, error, PUT_BACK, { connectionId });
    }
  }
}

export async function listConnectionFeeds(deps: Deps, userId: string, id: string): Promise<FeedLink[]> {
  const connection = await getOwnedConnectionOrThrow(deps, userId, id);
  const { provider, access } = connected(deps, connection);
  return discoverFeeds(provider, deps.fetcher, access, connection.params, { clockOffsetSeconds: connection.clockOffsetSeconds ?? 0 });
}

/**
 * Removes the tokens. The connection's sources stay (with their cached entries still published) but
 * are disabled: nothing can sign for them any more, so they say so instead of failing forever. Each
 * source's feeds are marked for a rebuild before its disabling is written (as a refresh marks them),
 * then rebuilt: a rebuild that fails, or a crash before it, leaves them to the scheduler's pending pass.
 */
export async function deleteConnection(deps: Deps, userId: string, id: string): Promise<void> {
  const connection = await getOwnedConnectionOrThrow(deps, userId, id);
  await deps.registry.deleteConnection(connection);
  const now = deps.now().toISOString();
  const work = 'disabling a source of a removed connection';
  const marked = new Set<string>();
  for (const source of await deps.registry.listSourcesOfConnection(id)) {
    try {
      if (source.status !== 'disabled') {
        await deps.registry.markRebuildPending(source.id);
        marked.add(source.id);
      }
      // Over the record as listed by compare-and-set: an edit or a refresh written since keeps its fields.
      const disabled = await rewriteSource(
        deps,
        source,
        (base) => disabledByRemoval(base, now),
        "the source kept changing while its connection's removal disabled it",
      );
      if (disabled) marked.add(source.id);
    } catch (error) {
      // One that kept changing is left to its own next write (logged); a busy store fails the removal's
      // answer (the connection is gone: a source left enabled is disabled by its next refresh).
      if (!leftToNextWrite(deps, error, work, { connectionId: id, sourceId: source.id })) throw error;
    }
  }
  await republish(deps, [...marked]);
}
