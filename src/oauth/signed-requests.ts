// Requests made with a user's OAuth connection: which providers are configured, the signer and
// URL of a source behind a connection, and the provider's clock. Shared by the refresh path and the
// connection service; the three-legged flow itself lives in services/connections.ts.
import { readFileSync } from 'node:fs';
import type { ProviderConfig } from '../config.js';
import type { Deps } from '../deps.js';
import { BadRequestError, NotFoundError, OAuthError } from '../errors.js';
import type { RequestSigner } from '../fetch/types.js';
import type { ConnectionRecord, SourceRecord } from '../model.js';
import { createSigner, requestSigned, withExtraParams, type OAuthToken } from './client.js';
import { createProviderConfig, fillPlaceholders, placeholderValues, type OAuthProviderConfig } from './provider.js';

/** What a source of a removed connection says: nothing can sign for it any more. */
export const CONNECTION_REMOVED = 'Its OAuth connection was removed: connect again and add the source anew, or delete it';

/** A source of a removed connection, as the removal leaves it: disabled, saying why. */
export function disabledByRemoval(source: SourceRecord, now: string): SourceRecord {
  // The code a forced refresh of such a source records (recordFailure: its connection not found).
  return { ...source, status: 'disabled', lastError: CONNECTION_REMOVED, lastErrorCode: NotFoundError.code, updatedAt: now };
}

const providerCache = new WeakMap<object, Map<string, OAuthProviderConfig>>();

/** The configured providers as the OAuth client wants them (RSA keys read once). */
export function providersOf(deps: Pick<Deps, 'config'>): Map<string, OAuthProviderConfig> {
  let providers = providerCache.get(deps.config);
  if (!providers) {
    providers = new Map(
      Object.entries(deps.config.providers).map(([id, settings]: [string, ProviderConfig]) => [
        id,
        createProviderConfig(id, settings, settings.privateKeyFile ? readFileSync(settings.privateKeyFile, 'utf8') : undefined),
      ]),
    );
    providerCache.set(deps.config, providers);
  }
  return providers;
}

export function providerOf(deps: Pick<Deps, 'config'>, id: string): OAuthProviderConfig {
  const provider = providersOf(deps).get(id);
  if (!provider) throw new BadRequestError(`unknown provider "${id}"; configured: ${[...providersOf(deps).keys()].join(', ') || 'none'}`);
  return provider;
}

/**
 * What a source behind a connection sends: its URL with `{user_id}`-style placeholders filled and
 * the provider's extra parameters added (so they are signed as sent), and a signer with a fresh
 * nonce per request and redirect hop.
 */
export async function connectionRequest(
  deps: Deps,
  userId: string,
  connectionId: string,
  url: string,
): Promise<{ url: string; sign?: RequestSigner; secrets: string[]; signedWith: string }> {
  const connection = await getOwnedConnectionOrThrow(deps, userId, connectionId);
  const { provider, access, signedWith } = connected(deps, connection);
  const filled = withExtraParams(fillPlaceholders(url, placeholderValues(provider, connection.params)), provider);
  // Signed requests go to the provider only: a signature names the consumer and the user's token
  // (and with PLAINTEXT *is* the secrets), so a user must not be able to point it at their own host.
  if (!providerOrigins(provider).has(originOf(filled))) {
    throw new BadRequestError(`a source that uses a ${provider.id} connection must be on ${[...providerOrigins(provider)].join(' or ')}`);
  }
  return {
    url: filled,
    sign: createSigner(provider, access, { clockOffsetSeconds: connection.clockOffsetSeconds ?? 0 }),
    secrets: [access.token, access.secret],
    signedWith,
  };
}

/**
 * After a 401 on a signed fetch: asks once more, signed, and if the provider answers with
 * `oauth_problem=timestamp_refused` learns its clock and keeps the offset on the connection.
 * True when the offset changed, i.e. a retry of the fetch may now succeed.
 */
export async function correctClockSkew(deps: Deps, userId: string, connectionId: string, storedUrl: string): Promise<boolean> {
  const connection = await getOwnedConnectionOrThrow(deps, userId, connectionId);
  const { provider, access } = connected(deps, connection);
  const url = fillPlaceholders(storedUrl, placeholderValues(provider, connection.params));
  const previous = connection.clockOffsetSeconds ?? 0;
  const { clockOffsetSeconds } = await requestSigned(provider, deps.fetcher, access, { url }, { clockOffsetSeconds: previous });
  if (clockOffsetSeconds === previous) return false;
  // Only onto the record it was learnt with: a relink begun or finished meanwhile is never written over.
  const learnt = { ...connection, clockOffsetSeconds, updatedAt: deps.now().toISOString() };
  if (!(await deps.registry.saveConnectionIfUnchanged(learnt, connection))) return false;
  deps.logger.info({ connectionId, provider: provider.id, clockOffsetSeconds }, 'provider clock offset learnt');
  return true;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/** The origins a provider's configuration names: where its signed API lives. */
function providerOrigins(provider: OAuthProviderConfig): Set<string> {
  const urls = [provider.requestTokenUrl, provider.accessTokenUrl, provider.authorizeUrl, provider.feedsUrl];
  return new Set(
    urls
      .filter((url): url is string => url !== undefined)
      .map((url) => originOf(url.replace(/[{}]/g, '')))
      .filter(Boolean),
  );
}

export async function getOwnedConnectionOrThrow(deps: Pick<Deps, 'registry'>, userId: string, id: string): Promise<ConnectionRecord> {
  const connection = await deps.registry.getOwnedConnection(userId, id);
  if (!connection) throw new NotFoundError('Connection');
  return connection;
}

/**
 * The provider and access token a connection signs with, and `signedWith`, that token as sealed on
 * the record: a relink seals a new one (a fresh IV each seal), so it names this link of the account.
 */
export function connected(
  deps: Deps,
  connection: ConnectionRecord,
): { provider: OAuthProviderConfig; access: OAuthToken; signedWith: string } {
  // An `unauthorized` connection still has its tokens: a user's explicit refresh may try them again.
  if (!connection.accessTokenSealed || !connection.accessSecretSealed) {
    throw new OAuthError(`connection ${connection.id} is ${connection.status}; finish or relink it first`);
  }
  return {
    provider: providerOf(deps, connection.provider),
    access: { token: deps.vault.open(connection.accessTokenSealed), secret: deps.vault.open(connection.accessSecretSealed) },
    signedWith: connection.accessTokenSealed,
  };
}
