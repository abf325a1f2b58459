// The URLs and ids a published feed goes by, built in one place: its public URLs per format, the
// discovery page, the WebSub hub it names, and the public id that stands for the internal one.
import { createHash } from 'node:crypto';
import { FEED_FORMATS, type RenderedFormat } from '../model.js';

/** A token's public URL in each format (publish/public-paths.ts parses them back). */
export function publicUrlsOf(publicUrl: string, token: string): Record<RenderedFormat, string> {
  return Object.fromEntries(FEED_FORMATS.map((format) => [format, `${publicUrl}/${token}.${format}`])) as Record<RenderedFormat, string>;
}

/** Namespace of published feed ids (RFC 9562 §5.5, UUID version 5). */
const FEED_ID_NAMESPACE = Buffer.from('9d3c6a51e07b4f2c8a95b1d4e6f70c28', 'hex');

/**
 * The id a published feed goes by (Atom `<id>`, the stale marker's id): a name-based UUID of the
 * feed's internal id, which the API uses and logs carry and a reader has no business seeing. The
 * internal id is 72 random bits, so the hash cannot be turned back into it. It depends on nothing
 * else, so it stays the same across restarts, edits and rotations (a rotation's new URLs are the
 * same feed, and the old URLs answer 404 all the same).
 */
export function publicFeedIdOf(feedId: string): string {
  const hash = createHash('sha1').update(FEED_ID_NAMESPACE).update(feedId).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The discovery page of a token (routes/browser-view.ts): links all three formats, for people and readers given a bare URL. */
export function pageUrlOf(publicUrl: string, token: string): string {
  return `${publicUrl}/f/${token}`;
}

/** The WebSub hub every published feed names (routes/websub.ts). */
export function hubUrlOf(publicUrl: string): string {
  return `${publicUrl}/websub`;
}
