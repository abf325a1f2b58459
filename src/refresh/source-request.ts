// Turns a stored source into the request fetch/ needs: the URL opened from the vault, and for
// sources behind an OAuth connection, the connection's placeholders filled and a signer.
import { hash } from 'node:crypto';
import type { Deps } from '../deps.js';
import type { FeedRequest, RequestSigner } from '../fetch/types.js';
import { MASK_RULES, maskUrl, SCRUB_RULES, scrubEntry, secretPartsOf, secretValuesOf } from '../secrets/scrub.js';
import type { SourceRecord } from '../model.js';
import { connectionRequest } from '../oauth/signed-requests.js';

export interface SourceRequest extends FeedRequest {
  /**
   * Values to scrub from everything this source produces (entries, errors, logs). Worked out on first
   * read: a 304 scrubs nothing, and the list (every form of every secret) is most of its own JS.
   */
  readonly secrets: string[];
  /** The stored URL, opened once here for the refresh's bookkeeping. */
  storedUrl: string;
  /** The source's earlier secrets, opened on first read (a 304 of an unchanged URL needs none). */
  readonly known: string[];
  /**
   * For a source behind a connection, the access token the request is signed with, as sealed on the
   * connection's record: what a provider's 401 refuses (store/connections.ts markConnectionUnauthorized).
   */
  signedWith?: string;
}

/** How many earlier secret values a source keeps: the newest, so that a source redirected in a loop stays bounded. */
const MAX_KNOWN_SECRETS = 64;

export async function prepareSourceRequest(deps: Deps, source: SourceRecord): Promise<SourceRequest> {
  const storedUrl = deps.vault.open(source.urlSealed);
  if (!source.connectionId) return new PreparedRequest(deps, source, storedUrl, storedUrl);
  const { url, sign, secrets, signedWith } = await connectionRequest(deps, source.userId, source.connectionId, storedUrl);
  return new PreparedRequest(deps, source, storedUrl, url, { sign, secrets, signedWith });
}

/**
 * The request, with its secret lists worked out on first read, once each (a read that throws is
 * tried again on the next). A class, not an object literal with getters: a refresh builds one per
 * source, and a literal's getters cost a closure pair and a slow object each time.
 */
class PreparedRequest implements SourceRequest {
  readonly url: string;
  readonly sign?: RequestSigner;
  readonly signedWith?: string;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  storedUrl: string;
  readonly #deps: Pick<Deps, 'vault'>;
  readonly #source: Pick<SourceRecord, 'secretsSealed'>;
  readonly #connectionSecrets: string[] | undefined;
  /** The URL as opened, for the secrets (`storedUrl` is the caller's to change). */
  readonly #openedUrl: string;
  #secrets: string[] | undefined;
  #known: string[] | undefined;

  constructor(
    deps: Pick<Deps, 'vault'>,
    source: SourceRecord,
    storedUrl: string,
    url: string,
    signed?: { sign?: RequestSigner; secrets: string[]; signedWith: string },
  ) {
    this.url = url;
    if (signed?.sign !== undefined) this.sign = signed.sign;
    if (signed !== undefined) this.signedWith = signed.signedWith;
    this.etag = source.etag;
    this.lastModified = source.lastModified;
    this.storedUrl = storedUrl;
    this.#openedUrl = storedUrl;
    this.#deps = deps;
    this.#source = source;
    this.#connectionSecrets = signed?.secrets;
  }

  get secrets(): string[] {
    return (this.#secrets ??=
      this.#connectionSecrets === undefined
        ? secretValuesOf(this.#openedUrl, this.known)
        : [...secretValuesOf(this.url, this.known), ...this.#connectionSecrets]);
  }

  get known(): string[] {
    return (this.#known ??= knownSecretsOf(this.#deps, this.#source));
  }
}

/**
 * What `urlMasked` was worked out from: the mask's rules (and the scrub rules, whose matching maskUrl
 * shares) and the sealed URL and secrets (ciphertexts,
 * each sealed with a fresh IV, so an edited URL or secret list never digests the same). While a
 * record's `urlMaskedFor` matches, its mask is what maskUrl would answer, and a refresh keeps it.
 */
export function urlMaskedForOf(source: Pick<SourceRecord, 'urlSealed' | 'secretsSealed'>): string {
  // One-shot (the same digest as a Hash object's, without building one): every refresh checks it.
  return hash('sha256', `${MASK_RULES}\n${SCRUB_RULES}\n${source.urlSealed}\n${source.secretsSealed ?? ''}`, 'base64url').slice(0, 22);
}

/** The record's mask, worked out again only when the URL, its secrets or the rules changed since. */
export function maskedUrlFields(
  source: Pick<SourceRecord, 'urlSealed' | 'secretsSealed' | 'urlMasked' | 'urlMaskedFor'>,
  request: Pick<SourceRequest, 'storedUrl' | 'known'>,
): Pick<SourceRecord, 'urlMasked' | 'urlMaskedFor'> {
  const maskedFor = urlMaskedForOf(source);
  if (source.urlMaskedFor === maskedFor) return { urlMasked: source.urlMasked, urlMaskedFor: maskedFor };
  return { urlMasked: maskUrl(request.storedUrl, request.known), urlMaskedFor: maskedFor };
}

/** The secret values the source's earlier URLs carried (none on records older than the field). */
/** Every secret value of a source as its record is now: its URL's and the ones it kept (scrubEntry's list). */
export function secretsOfRecord(deps: Pick<Deps, 'vault'>, source: Pick<SourceRecord, 'urlSealed' | 'secretsSealed'>): string[] {
  return secretValuesOf(deps.vault.open(source.urlSealed), knownSecretsOf(deps, source));
}

/** The source's cached entries scrubbed for `secrets` and written back (a value marked secret, an edit). */
export async function scrubCachedEntries(deps: Pick<Deps, 'registry'>, sourceId: string, secrets: string[]): Promise<void> {
  // Every entry written again, not only those that held a secret when read: a refresh writing
  // between this read and this write may have put the secret into another.
  await deps.registry.saveEntries(
    sourceId,
    (await deps.registry.getEntries(sourceId)).map((entry) => scrubEntry(entry, secrets)),
  );
}

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
): Pick<SourceRecord, 'urlSealed' | 'urlMasked' | 'urlMaskedFor' | 'secretsSealed'> {
  const before = previous ? knownSecretsOf(deps, previous) : [];
  const added = [...[url, ...earlierUrls].flatMap(secretPartsOf), ...marked];
  const known = [...new Set([...before, ...added])].slice(-MAX_KNOWN_SECRETS);
  const urlSealed = deps.vault.seal(url);
  const secretsSealed = known.length > 0 ? deps.vault.seal(JSON.stringify(known)) : undefined;
  return {
    urlSealed,
    urlMasked: maskUrl(url, known),
    urlMaskedFor: urlMaskedForOf({ urlSealed, secretsSealed }),
    ...(secretsSealed !== undefined ? { secretsSealed } : {}),
  };
}
