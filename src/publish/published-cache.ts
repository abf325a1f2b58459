// What a reader's GET of a public URL needs — which feed the token opens, the document's validators
// and its bytes — kept in this instance's memory, so a poll that hits is answered without a store
// round trip. Exact, not timed: the store tells us every record written under `public` and
// `rendered` by any process (store/kv.ts watchRecords), and we forget what it concerns before the
// next request is answered from memory. Rotation, revocation, deletion and a rebuild are therefore
// seen at once by every instance; nothing here guesses with a TTL. Tokens that open nothing are
// never kept (anyone can make them up).
import type { Deps } from '../deps.js';
import type { PublicTokenTarget, RenderedFormat } from '../model.js';
import type { RecordWatch } from '../store/kv.js';
import {
  documentForToken,
  findPublishedFeed,
  readPublishedHead,
  readStoredDocument,
  type PublishedHead,
  type StoredDocument,
} from './published.js';

type CacheDeps = Pick<Deps, 'config' | 'registry' | 'metrics' | 'now' | 'instanceId' | 'logger'>;

export interface PublishedEntry {
  token: string;
  format: RenderedFormat;
  target: PublicTokenTarget;
  head: PublishedHead;
  /** The document's bytes by content coding, once made (the route's encoder fills them). */
  bytes: Map<string, Buffer>;
  /** Characters of the stored document the bytes are made from (what picks a coding), once read. */
  storedChars?: number;
  /** Header blocks (name, value, …) of its answers, by '304' or a 200's coding: made once by the route. */
  headerBlocks: Map<string, string[]>;
  /** The public rate limit's budget key of this token, made once by the route. */
  limitKey?: string;
}

export interface PublishedDocumentSource {
  etag: string;
  body: () => string;
  /** Characters of the stored document (the default token's), whatever the token. */
  storedChars: number;
}

export interface PublishedCache {
  /**
   * The entry of `<token>.<format>` (the URL's last segment, as the route sees it) when memory may
   * answer: every change committed so far has been applied first. Synchronous and allocation-free.
   */
  get(file: string): PublishedEntry | undefined;
  /** Reads the entry through the store (and keeps it, unless a change arrived meanwhile). */
  load(file: string, token: string, format: RenderedFormat): Promise<PublishedEntry | undefined>;
  /** The document the entry's tag stands for; undefined when the token no longer opens it. */
  document(entry: PublishedEntry): Promise<PublishedDocumentSource | undefined>;
  /** Keeps `bytes` as the entry's copy in `coding` (bounded in total). */
  keepBytes(entry: PublishedEntry, coding: string, bytes: Buffer): void;
  close(): Promise<void>;
}

export interface PublishedCacheLimits {
  /**
   * Bytes the entries themselves (one per token and format: target, validators, header blocks) may
   * take, estimated (entrySize); their kept encodings count apart, in `bytes`.
   */
  entryBytes: number;
  /** Bytes of kept encodings at most, all entries together. */
  bytes: number;
  /** Stored documents (content-addressed by ETag) at most, and their characters in all. */
  documents: number;
  documentChars: number;
}

export const DEFAULT_CACHE_LIMITS: PublishedCacheLimits = {
  // ~5,000 tokens' formats: the polled set of a large instance (bench 5b serves 3,000). Counted in
  // entries, the 50,000 it was could hold ~140 MiB of heap (session 7: ~3 KB an entry).
  entryBytes: 16 * 1024 * 1024,
  bytes: 32 * 1024 * 1024,
  documents: 128,
  documentChars: 32 * 1024 * 1024,
};

const FORMATS: RenderedFormat[] = ['atom', 'rss', 'json'];
/**
 * What an entry's objects cost beside the characters of its strings: the records, two maps and the
 * route's header blocks (arrays of ~35 shared strings). Measured: ~3 KB an entry with a rendered
 * meta of three formats, of which ~1 KB is its strings (two bytes a character at most).
 */
const ENTRY_OVERHEAD_BYTES = 2048;

/** The heap an entry is estimated to hold, its kept encodings apart. */
export function entrySize(entry: Pick<PublishedEntry, 'token' | 'target' | 'head'>): number {
  return ENTRY_OVERHEAD_BYTES + 2 * (entry.token.length + JSON.stringify(entry.target).length + JSON.stringify(entry.head).length);
}
/** Registry keys (store/registry.ts) a public GET reads: the token, its meta copy, the feed's meta and bodies. */
const WATCHED_PREFIXES = ['public:', 'public-meta:', 'rendered:'];

export async function createPublishedCache(deps: CacheDeps, limits: PublishedCacheLimits = DEFAULT_CACHE_LIMITS): Promise<PublishedCache> {
  const entries = new Map<string, PublishedEntry>();
  const filesOfFeed = new Map<string, Set<string>>();
  let keptBytes = 0;
  /** Each kept entry's estimated size (entrySize), and their sum. */
  const entrySizes = new Map<string, number>();
  let entryBytes = 0;
  /** Moves on every change seen: a read that started before a change is not kept (it may predate it). */
  let generation = 0;

  // Stored bytes by their tag: content-addressed, so an entry can never be stale, only evicted.
  const documents = new Map<string, StoredDocument>();
  let documentChars = 0;

  function forget(file: string): void {
    const entry = entries.get(file);
    if (!entry) return;
    entries.delete(file);
    entryBytes -= entrySizes.get(file) ?? 0;
    entrySizes.delete(file);
    for (const bytes of entry.bytes.values()) keptBytes -= bytes.length;
    const files = filesOfFeed.get(entry.target.feedId);
    files?.delete(file);
    if (files?.size === 0) filesOfFeed.delete(entry.target.feedId);
  }

  function onChange(key: string | undefined): void {
    generation += 1;
    if (key === undefined) {
      entries.clear();
      filesOfFeed.clear();
      entrySizes.clear();
      keptBytes = 0;
      entryBytes = 0;
      return;
    }
    if (key.startsWith('rendered:')) {
      // `rendered:<feedId>` (meta) or `rendered:<feedId>:<format>` (a body): every token of the feed.
      const feedId = key.slice('rendered:'.length).split(':')[0]!;
      for (const file of [...(filesOfFeed.get(feedId) ?? [])]) forget(file);
      return;
    }
    const token = key.slice(key.indexOf(':') + 1);
    for (const format of FORMATS) forget(`${token}.${format}`);
  }

  const watch: RecordWatch = await deps.registry.watchRecords(WATCHED_PREFIXES, onChange);

  return {
    get(file) {
      if (!watch.sync()) return undefined;
      return entries.get(file);
    },

    async load(file, token, format) {
      // A change check under way (a commit moved the SQLite store) ends sooner than the store reads
      // below: wait for it, and answer from memory if the entry is still kept and trusted.
      const checking = watch.checking?.();
      if (checking !== undefined) {
        await checking;
        const kept = watch.sync() ? entries.get(file) : undefined;
        if (kept !== undefined) return kept;
      }
      const startedAt = generation;
      const trusted = watch.sync();
      const target = await findPublishedFeed(deps, token);
      const head = target && (await readPublishedHead(deps, target, token, format));
      if (!target || !head) return undefined;
      const entry: PublishedEntry = { token, format, target, head, bytes: new Map(), headerBlocks: new Map() };
      if (trusted && startedAt === generation && watch.sync() && startedAt === generation) {
        forget(file);
        const size = entrySize(entry);
        // Oldest first, as the encodings are.
        while (entries.size > 0 && entryBytes + size > limits.entryBytes) forget(entries.keys().next().value!);
        entries.set(file, entry);
        entrySizes.set(file, size);
        entryBytes += size;
        let files = filesOfFeed.get(target.feedId);
        if (!files) filesOfFeed.set(target.feedId, (files = new Set()));
        files.add(file);
      }
      return entry;
    },

    async document(entry) {
      let stored = documents.get(entry.head.storedEtag);
      if (stored === undefined) {
        stored = await readStoredDocument(deps, entry.target.feedId, entry.format);
        if (!stored) return undefined;
        while (documents.size > 0 && (documents.size >= limits.documents || documentChars + stored.body.length > limits.documentChars)) {
          const [oldest, evicted] = documents.entries().next().value!;
          documents.delete(oldest);
          documentChars -= evicted.body.length;
        }
        if (stored.body.length <= limits.documentChars && !documents.has(stored.etag)) {
          documents.set(stored.etag, stored);
          documentChars += stored.body.length;
        }
      }
      const document = documentForToken(stored, entry.target, entry.token);
      return document && { ...document, storedChars: stored.body.length };
    },

    keepBytes(entry, coding, bytes) {
      // Only for an entry still kept, and still the one its file names (not one forgotten meanwhile).
      if (entries.get(`${entry.token}.${entry.format}`) !== entry || entry.bytes.has(coding) || bytes.length > limits.bytes) return;
      while (keptBytes + bytes.length > limits.bytes && entries.size > 0) {
        const oldest = entries.keys().next().value!;
        forget(oldest);
        if (oldest === `${entry.token}.${entry.format}`) return;
      }
      entry.bytes.set(coding, bytes);
      keptBytes += bytes.length;
    },

    async close() {
      await watch.close();
    },
  };
}
