// Turns a stored source into the request fetch/ needs: the URL opened from the vault, and for
// sources behind an OAuth connection, the connection's placeholders filled and a signer.
import type { Deps } from '../deps.js';
import type { FeedRequest } from '../fetch/types.js';
import { secretValuesOf } from '../secrets/scrub.js';
import type { SourceRecord } from '../store/registry.js';
import { connectionRequest } from '../oauth/signed-requests.js';

export interface SourceRequest extends FeedRequest {
  /** Values to scrub from everything this source produces (entries, errors, logs). */
  secrets: string[];
}

export async function prepareSourceRequest(deps: Deps, source: SourceRecord): Promise<SourceRequest> {
  const storedUrl = deps.vault.open(source.urlSealed);
  const validators = { etag: source.etag, lastModified: source.lastModified };
  if (!source.connectionId) return { url: storedUrl, ...validators, secrets: secretValuesOf(storedUrl) };
  const { url, sign, secrets } = await connectionRequest(deps, source.userId, source.connectionId, storedUrl);
  return { url, sign, ...validators, secrets: [...secretValuesOf(url), ...secrets] };
}
