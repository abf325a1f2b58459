// What a reader of one public URL gets. A feed is rendered once, with its default token in its
// self links; every subscriber token reads the same bytes with its own token in their place, so
// a reader never sees another reader's URL (readers that follow rel=self keep their own), and
// revoking one token cuts exactly that reader off.
import type { Deps } from '../deps.js';
import { DEFAULT_TOKEN_ID, type PublicTokenTarget, type RenderedFormat } from '../store/registry.js';
import { rebuildFeed } from './rebuild-feed.js';

type PublishedDeps = Pick<Deps, 'config' | 'registry' | 'metrics' | 'now' | 'instanceId' | 'logger'>;

export interface PublishedHead {
  etag: string;
  contentType: string;
  /** HTTP date. */
  lastModified: string;
}

export interface PublishedDocument extends PublishedHead {
  body: string;
}

/** The feed a public token opens, or undefined once the token is rotated, revoked or deleted. */
export function findPublishedFeed(deps: Pick<Deps, 'registry'>, token: string): Promise<PublicTokenTarget | undefined> {
  return deps.registry.findPublicToken(token);
}

/** Validators and type of the document at `token`'s URL, without reading the body (answers 304s). */
export async function readPublishedHead(deps: PublishedDeps, target: PublicTokenTarget, token: string, format: RenderedFormat): Promise<PublishedHead | undefined> {
  // Only after a crash between saving a feed and rendering it does a reader's request render.
  const meta = (await deps.registry.getRenderedMeta(target.feedId)) ?? (await rebuildFeed(deps, target.feedId));
  if (!meta) return undefined;
  // The default token's meta is written after a rotation's rebuild: until then the new token has no document.
  if (target.tokenId === DEFAULT_TOKEN_ID && meta.publicToken !== token) return undefined;
  const { etag, contentType } = meta.formats[format];
  return { etag: etagFor(etag, target.tokenId), contentType, lastModified: meta.lastModified };
}

/** The document exactly as a reader of `token`'s URL gets it; undefined when the token opens nothing. */
export async function readPublished(deps: PublishedDeps, feedId: string, format: RenderedFormat, token: string): Promise<PublishedDocument | undefined> {
  const target = await findPublishedFeed(deps, token);
  if (!target || target.feedId !== feedId) return undefined;
  const head = await readPublishedHead(deps, target, token, format);
  if (!head) return undefined;
  let stored = await deps.registry.getRenderedBody(feedId, format);
  if (stored && stored.publicToken === undefined) {
    // A body from before bodies named their token: render it again once.
    await rebuildFeed(deps, feedId);
    stored = await deps.registry.getRenderedBody(feedId, format);
  }
  if (!stored?.publicToken) return undefined;
  if (target.tokenId === DEFAULT_TOKEN_ID) {
    // A rotation landed between the two reads: this body belongs to the new token.
    if (stored.publicToken !== token) return undefined;
    return { ...head, etag: stored.etag, body: stored.body };
  }
  return { ...head, etag: etagFor(stored.etag, target.tokenId), body: stored.body.replaceAll(stored.publicToken, token) };
}

/** A subscriber's bytes differ from the default's only in the token: a strong tag of their own, derived. */
function etagFor(etag: string, tokenId: string): string {
  return tokenId === DEFAULT_TOKEN_ID ? etag : `${etag.slice(0, -1)}-${tokenId}"`;
}
