// The records the store keeps, as plain data: users, sources, feeds and what a feed publishes,
// connections, WebSub subscriptions. Secrets inside them are sealed by the vault before they are
// stored. Nothing here reads or writes anything: the repositories in store/ do.
import type { CachedEntry, PodcastChannel } from './entries.js';
import type { RenderedFormat } from './formats.js';

export type SourceStatus = 'new' | 'ok' | 'stale' | 'failing' | 'disabled' | 'unauthorized';

export interface UserRecord {
  id: string;
  name: string;
  apiKeyHash: string;
  createdAt: string;
}

export interface SourceRecord {
  id: string;
  userId: string;
  title: string;
  /** The upstream URL, sealed (it carries the secret token). */
  urlSealed: string;
  /** The upstream URL with query values and secret path segments masked: safe to show and log. */
  urlMasked: string;
  /**
   * A digest of what `urlMasked` was worked out from (refresh/source-request.ts urlMaskedForOf): while
   * it matches, a refresh keeps the mask instead of masking again. Absent on older records.
   */
  urlMaskedFor?: string;
  /**
   * Every secret value the source's URLs have carried (secrets/scrub.ts secretPartsOf), kept after an
   * upstream redirect or an edit replaced the URL, as a sealed JSON array. Absent on older records.
   */
  secretsSealed?: string;
  /** Upstream host, for per-host limits and logs. */
  host: string;
  connectionId?: string;
  refreshMinutes: number;
  status: SourceStatus;
  lastError?: string;
  /** Error code of the last failure (FP_*). */
  lastErrorCode?: string;
  errorCount: number;
  lastFetchedAt?: string;
  lastSuccessAt?: string;
  nextFetchAt: string;
  /** Set while an upstream's Retry-After (429/503) is pending: nothing fetches the source before it. */
  retryAfterUntil?: string;
  /** Validators for the next conditional GET. */
  etag?: string;
  lastModified?: string;
  /** Minimum interval the upstream asked for (max-age, <ttl>, sy:updatePeriod), minutes. */
  upstreamMinMinutes?: number;
  siteUrl?: string;
  /** The upstream's artwork (itunes:image, <image>, <logo>), secrets scrubbed: a podcast feed's channel image. */
  image?: string;
  /** The upstream channel's itunes:explicit. */
  explicit?: boolean;
  /** The upstream channel's other podcast metadata (author, owner, categories…), secrets scrubbed. */
  podcast?: PodcastChannel;
  /**
   * Keyed digests of the normalised URLs this source answers to (services/source-index.ts): the
   * duplicate index's keys, so a delete can drop them. Absent on sources created before the index.
   */
  urlDigests?: string[];
  entryCount: number;
  /**
   * A keyed digest (vault.digest) of the secrets and scrub rules the cached entries were last found
   * scrubbed for: while it matches, a refresh skips looking through them again (refresh-source.ts).
   */
  entriesScrubbedFor?: string;
  /** Bytes of the cached entries as stored (refresh/update-cache.ts); absent on older records. */
  cachedBytes?: number;
  /**
   * A keyed digest of the last document parsed into the cached entries and of everything its parse
   * depended on (refresh-source.ts documentDigestOf): the same bytes again are answered as a 304 is.
   */
  documentDigest?: string;
  /**
   * The entries' revision that parse left (store/sources.ts saveEntries): the same bytes are taken as
   * a 304 only while the entries are still at it (nothing wrote them since, whatever wrote the record).
   */
  documentEntriesRevision?: string;
  /** That document's own minimum interval (RSS `<ttl>`, `sy:updatePeriod`), minutes: what a 304 or the same bytes keep of it. */
  documentTtlMinutes?: number;
  /** When the first cached entry no longer in the document is due to expire (retention): absent when none is. */
  entriesExpireAt?: string;
  createdAt: string;
  updatedAt: string;
}

export interface FeedRecord {
  id: string;
  userId: string;
  title: string;
  sourceIds: string[];
  include: string[];
  exclude: string[];
  limit: number;
  /** The unguessable part of the default public URLs (replaced by a rotation). */
  publicToken: string;
  /** Named extra public URLs, one per reader, each revocable on its own. Absent on older records. */
  subscriberTokens?: SubscriberToken[];
  /** Absent on older records: then every option has its default (see pipeline/feed-options.ts). */
  options?: Partial<FeedOptions>;
  createdAt: string;
  updatedAt: string;
}

/** What a feed publishes beyond merging and filtering, for aggregator pages and small screens. */
export interface FeedOptions {
  /** "Source title: entry title". */
  prefixSourceTitle: boolean;
  /** Drop full content; keep (or derive) a summary. */
  summaryOnly: boolean;
  /** Entries older than this many days are left out; 0 keeps every age. */
  maxAgeDays: number;
  /** Say which source each entry came from (JSON Feed `_feedproxy.source`, Atom/RSS `<source>`). */
  sourceInfo: boolean;
}

export interface SubscriberToken {
  id: string;
  name: string;
  /** The unguessable part of this reader's public URLs. */
  token: string;
  createdAt: string;
}

/** Which feed a public token opens, and as whose URL: `default` is the feed's own token. */
export interface PublicTokenTarget {
  feedId: string;
  tokenId: string;
  /**
   * The feed's rendered meta as of its last render, read in the same round trip as the token.
   * Absent for a token created since; may lag the feed's own meta by one render while it lands.
   */
  meta?: RenderedMeta;
}

export const DEFAULT_TOKEN_ID = 'default';

/**
 * What a reader's GET needs to answer 304 without touching the body. The bodies are stored apart,
 * one key per format, rebuilt when the feed's sources change — never on a reader's GET.
 */
export interface RenderedMeta {
  publicToken: string;
  /** HTTP date of the last change of the bytes. */
  lastModified: string;
  formats: Record<RenderedFormat, { etag: string; contentType: string }>;
}

/**
 * What rebuilding a feed needs to merge again from the sources that changed alone (pipeline/merge.ts
 * MergeSnapshot, publish/merge-state.ts): valid for one selection and one revision of each source's entries.
 */
export interface MergeState {
  version: number;
  /** The feed's merge inputs besides the entries (sources, filters, limit, options). */
  selection: string;
  /** Each source's entries revision when merged; null where a write was pending (never equal to a later one). */
  revisions: Record<string, string | null>;
  universe: CachedEntry[];
  cut?: CachedEntry;
  /** Each source's links that several of its entries share (pipeline/merge.ts MergeSnapshot). */
  sharedLinks: Record<string, string[]>;
}

export interface RenderedBody {
  etag: string;
  body: string;
  /** The default token the body's self links carry; absent on bodies stored before tokens were named. */
  publicToken?: string;
}

export interface ConnectionRecord {
  id: string;
  userId: string;
  provider: string;
  status: 'pending' | 'connected' | 'unauthorized';
  /** Sealed request token and secret while pending. */
  requestTokenSealed?: string;
  requestSecretSealed?: string;
  requestTokenHash?: string;
  requestExpiresAt?: string;
  /** Sealed access token and secret once connected. */
  accessTokenSealed?: string;
  accessSecretSealed?: string;
  /** Extra fields of the access-token response (user_id, screen_name…). */
  params: Record<string, string>;
  /** Seconds to add to our clock when signing for this provider (learnt from timestamp_refused). */
  clockOffsetSeconds?: number;
  createdAt: string;
  updatedAt: string;
}

/** A WebSub subscriber of one public feed URL (websub/). Callback and secret are sealed. */
export interface Subscription {
  id: string;
  /** The public feed URL subscribed to, exactly as given (what rel=self names in deliveries). */
  topic: string;
  feedId: string;
  /** The public token of the topic: a revoked one ends the subscription. */
  token: string;
  format: RenderedFormat;
  callbackSealed: string;
  /** For logs: the callback's host, never its path or query. */
  callbackHost: string;
  secretSealed?: string;
  leaseSeconds: number;
  /** ISO 8601. */
  expiresAt: string;
  createdAt: string;
  /** ETag of the last document this subscriber acknowledged: never sent twice in a row. */
  deliveredEtag?: string;
  /** Failed attempts in a row of the pending delivery. */
  failures: number;
  /** ISO 8601; the pending delivery waits until then (backoff). */
  retryAt?: string;
}
