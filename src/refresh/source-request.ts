// Turns a stored source into the request fetch/ needs: the URL opened from the vault, and for
// sources behind an OAuth connection, the connection's placeholders filled and a signer.
import type { Deps } from '../deps.js';
import type { FeedRequest } from '../fetch/types.js';
import { maskUrl, secretPartsOf, secretValuesOf } from '../secrets/scrub.js';
import type { SourceRecord } from '../model.js';
import { connectionRequest } from '../oauth/signed-requests.js';

export interface SourceRequest extends FeedRequest {
  /** Values to scrub from everything this source produces (entries, errors, logs). */
  secrets: string[];
  /** The stored URL and the source's earlier secrets, opened once here for the refresh's bookkeeping. */
  storedUrl: string;
  known: string[];
}

/** How many earlier secret values a source keeps: the newest, so that a source redirected in a loop stays bounded. */
const MAX_KNOWN_SECRETS = 64;

export async function prepareSourceRequest(deps: Deps, source: SourceRecord): Promise<SourceRequest> {
  const storedUrl = deps.vault.open(source.urlSealed);
  const validators = { etag: source.etag, lastModified: source.lastModified };
  const known = knownSecretsOf(deps, source);
  if (!source.connectionId) return { url: storedUrl, ...validators, secrets: secretValuesOf(storedUrl, known), storedUrl, known };
  const { url, sign, secrets } = await connectionRequest(deps, source.userId, source.connectionId, storedUrl);
  return { url, sign, ...validators, secrets: [...secretValuesOf(url, known), ...secrets], storedUrl, known };
}

/** The secret values the source's earlier URLs carried (none on records older than the field). */
export function knownSecretsOf(deps: Pick<Deps, 'vault'>, source: Pick<SourceRecord, 'secretsSealed'>): string[] {
  if (source.secretsSealed === undefined) return [];
  const values: unknown = JSON.parse(deps.vault.open(source.secretsSealed));
  return Array.isArray(values) ? values.filter((value): value is string => typeof value === 'string') : [];
}

/**
 * What a source record stores of a new URL: sealed, masked (its parts that repeat one of the
 * source's earlier secrets masked too: a redirect to `/newhome/<token>/feed` keeps the token
 * secret), and the secrets of every URL given, and the values the user marked, added to the ones it
 * keeps for good.
 */
export function sourceUrlFields(
  deps: Pick<Deps, 'vault'>,
  previous: Pick<SourceRecord, 'secretsSealed'> | undefined,
  url: string,
  earlierUrls: readonly string[] = [],
  marked: readonly string[] = [],
): Pick<SourceRecord, 'urlSealed' | 'urlMasked' | 'secretsSealed'> {
  const before = previous ? knownSecretsOf(deps, previous) : [];
  const added = [...[url, ...earlierUrls].flatMap(secretPartsOf), ...marked];
  const known = [...new Set([...before, ...added])].slice(-MAX_KNOWN_SECRETS);
  return {
    urlSealed: deps.vault.seal(url),
    urlMasked: maskUrl(url, known),
    ...(known.length > 0 ? { secretsSealed: deps.vault.seal(JSON.stringify(known)) } : {}),
  };
}
