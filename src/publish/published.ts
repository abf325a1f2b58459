// What a reader of one public URL gets. A feed is rendered once, with its default token in its
// self links; every subscriber token reads the same bytes with its own token in their place, so
// a reader never sees another reader's URL (readers that follow rel=self keep their own), and
// revoking one token cuts exactly that reader off.
import type { Deps } from '../deps.js';
import { DEFAULT_TOKEN_ID, type PublicTokenTarget, type RenderedFormat } from '../model.js';
import { rebuildFeed } from './rebuild-feed.js';

type PublishedDeps = Pick<Deps, 'config' | 'registry' | 'metrics' | 'now' | 'instanceId' | 'logger'>;

export interface PublishedHead {
  etag: string;
  contentType: string;
  /** HTTP date. */
  lastModified: string;
  /** The tag of the stored bytes every token's document is made from. */
  storedEtag: string;
}

export interface PublishedDocument extends Omit<PublishedHead, 'storedEtag'> {
  body: string;
}

/** The bytes stored for a format, rendered once with the default token in their self links. */
export interface StoredDocument {
  etag: string;
  body: string;
  /** The token in the body's self links. */
  publicToken: string;
}

/** The feed a public token opens, or undefined once the token is rotated, revoked or deleted. */
export function findPublishedFeed(deps: Pick<Deps, 'registry'>, token: string): Promise<PublicTokenTarget | undefined> {
  return deps.registry.findPublicToken(token);
}

/** Validators and type of the document at `token`'s URL, without reading the body (answers 304s). */
export async function readPublishedHead(
  deps: PublishedDeps,
  target: PublicTokenTarget,
  token: string,
  format: RenderedFormat,
): Promise<PublishedHead | undefined> {
  // The copy read with the token saves a round trip; a token created since its feed's last render
  // has none yet. Only after a crash between saving a feed and rendering it does a reader's request render.
  const meta = target.meta ?? (await deps.registry.getRenderedMeta(target.feedId)) ?? (await rebuildFeed(deps, target.feedId));
  if (!meta) return undefined;
  // The default token's meta is written after a rotation's rebuild: until then the new token has no document.
  if (target.tokenId === DEFAULT_TOKEN_ID && meta.publicToken !== token) return undefined;
  const { etag, contentType } = meta.formats[format];
  return { etag: etagFor(etag, target.tokenId), contentType, lastModified: meta.lastModified, storedEtag: etag };
}

/** The stored bytes of a format (cacheable by their tag: every token's document is made from them). */
export async function readStoredDocument(deps: PublishedDeps, feedId: string, format: RenderedFormat): Promise<StoredDocument | undefined> {
  const stored = await deps.registry.getRenderedBody(feedId, format);
  if (stored?.publicToken !== undefined) return { etag: stored.etag, body: stored.body, publicToken: stored.publicToken };
  if (!stored) return undefined;
  // A body from before bodies named their token: its meta names it when both are of one render.
  const meta = await deps.registry.getRenderedMeta(feedId);
  if (meta?.formats[format].etag === stored.etag) return { etag: stored.etag, body: stored.body, publicToken: meta.publicToken };
  return undefined;
}

/**
 * `token`'s document made from the stored bytes; undefined when they belong to another default
 * token (a rotation landed). The body is made on demand: a cached encoding of it needs only the tag.
 */
export function documentForToken(
  stored: StoredDocument,
  target: PublicTokenTarget,
  token: string,
): { etag: string; body: () => string } | undefined {
  if (target.tokenId === DEFAULT_TOKEN_ID) return stored.publicToken === token ? { etag: stored.etag, body: () => stored.body } : undefined;
  return { etag: etagFor(stored.etag, target.tokenId), body: () => stored.body.replaceAll(stored.publicToken, token) };
}

/** The document exactly as a reader of `token`'s URL gets it (`target`: what the token opens, from findPublishedFeed). */
export async function readPublished(
  deps: PublishedDeps,
  target: PublicTokenTarget,
  format: RenderedFormat,
  token: string,
): Promise<PublishedDocument | undefined> {
  const head = await readPublishedHead(deps, target, token, format);
  const stored = head && (await readStoredDocument(deps, target.feedId, format));
  const document = stored && documentForToken(stored, target, token);
  if (!head || !document) return undefined;
  return { etag: document.etag, contentType: head.contentType, lastModified: head.lastModified, body: document.body() };
}

/** A subscriber's bytes differ from the default's only in the token: a strong tag of their own, derived. */
function etagFor(etag: string, tokenId: string): string {
  return tokenId === DEFAULT_TOKEN_ID ? etag : `${etag.slice(0, -1)}-${tokenId}"`;
}
