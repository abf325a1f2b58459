// RFC 9110 §8.8.3: a strong validator changes whenever the bytes change. One form for every body we
// serve — published feeds, the browser view's and the dashboard's assets.
import { createHash } from 'node:crypto';

/** A quoted tag of 162 bits of SHA-256 over the bytes. */
export function strongEtag(body: string | Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}
