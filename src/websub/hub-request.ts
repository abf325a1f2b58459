// A subscriber's request to the hub (W3C WebSub §5.1): checked at once, so a plainly bad request is
// a 4xx; what needs the network (the callback's address, the subscriber's intent) is left to the
// verification that follows the 202 (verify-intent.ts).
import { isIP } from 'node:net';
import type { Deps } from '../deps.js';
import { BadRequestError, ForbiddenAddressError, NotFoundError, RateLimitedError } from '../errors.js';
import { checkUrl, isAllowedException, isForbiddenAddress } from '../fetch/index.js';
import { findPublishedFeed } from '../publish/published.js';
import type { RenderedFormat } from '../model.js';
import { getSubscription, subscriptionIdOf, subscriptionIdsOfFeed } from './subscriptions.js';
import { parseTopic, topicTextRefusal } from './topic.js';

/** The form fields of a hub request, as posted. */
export interface HubRequestFields {
  'hub.mode': string;
  'hub.topic': string;
  'hub.callback': string;
  'hub.lease_seconds'?: number;
  'hub.secret'?: string;
}

/** A request the hub accepted, waiting for its verification of intent. */
export interface AcceptedRequest {
  mode: 'subscribe' | 'unsubscribe';
  id: string;
  topic: string;
  token: string;
  format: RenderedFormat;
  /** Undefined for an unsubscribe of a topic that no longer opens a feed. */
  feedId?: string;
  callback: string;
  leaseSeconds: number;
  secret?: string;
}

// WebSub §5.1: "hub.secret … MUST be less than 200 bytes in length."
const MAX_SECRET_BYTES = 199;
type HubDeps = Pick<Deps, 'config' | 'registry'>;

export async function acceptHubRequest(deps: HubDeps, fields: HubRequestFields): Promise<AcceptedRequest> {
  const mode = modeOf(fields['hub.mode']);
  const callback = checkCallback(deps, fields['hub.callback']);
  const topic = fields['hub.topic'];
  const refusal = topicTextRefusal(topic);
  if (refusal !== undefined) throw new BadRequestError(refusal);
  const ref = parseTopic(deps.config.publicUrl, topic);
  if (!ref) throw new BadRequestError(`hub.topic must be a feed URL published here (${deps.config.publicUrl}/<token>.atom, .rss or .json)`);
  const target = await findPublishedFeed(deps, ref.token);
  const secret = fields['hub.secret'];
  if (secret !== undefined && (secret === '' || Buffer.byteLength(secret) > MAX_SECRET_BYTES)) {
    throw new BadRequestError(`hub.secret must be 1 to ${MAX_SECRET_BYTES} bytes`);
  }
  const id = subscriptionIdOf(topic, callback);
  const accepted: AcceptedRequest = {
    mode,
    id,
    topic,
    ...ref,
    feedId: target?.feedId,
    callback,
    leaseSeconds: leaseOf(deps, fields['hub.lease_seconds']),
    secret,
  };
  if (mode === 'unsubscribe') {
    // Only a subscription we hold is worth a verification: anyone can post made-up pairs, and each
    // verification is an outgoing request to the stranger's callback (issue 18). One of a revoked
    // topic is still verified: the subscriber wants its subscription gone.
    if (!(await getSubscription(deps, id))) {
      throw Object.assign(new NotFoundError('subscription'), {
        message: 'This hub.callback has no subscription to this hub.topic: nothing to unsubscribe',
      });
    }
    return accepted;
  }
  if (!target) throw new NotFoundError('Feed at hub.topic');
  const subscribers = await subscriptionIdsOfFeed(deps, target.feedId);
  if (subscribers.length >= deps.config.websub.maxSubscriptionsPerFeed && !subscribers.includes(id)) {
    throw new RateLimitedError('this feed has as many WebSub subscribers as this hub allows');
  }
  return accepted;
}

function modeOf(mode: string): AcceptedRequest['mode'] {
  if (mode === 'subscribe' || mode === 'unsubscribe') return mode;
  throw new BadRequestError('hub.mode must be subscribe or unsubscribe');
}

/**
 * A callback we could ever call: absolute http(s), no credentials, not a private address literal.
 * A hostname is resolved, and its address checked, only when the verification connects to it.
 */
function checkCallback(deps: HubDeps, callback: string): string {
  let url: URL;
  try {
    url = checkUrl(callback);
  } catch {
    throw new BadRequestError('hub.callback must be an absolute http(s) URL without credentials');
  }
  const address = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  if (isIP(address) !== 0 && isForbiddenAddress(address) && !isAllowedException(address, port, [...deps.config.allowPrivate])) {
    throw new ForbiddenAddressError(url.host);
  }
  return callback;
}

/** WebSub §5.1: the hub chooses the lease; ours is the asked one, clamped to the configured bounds. */
function leaseOf(deps: HubDeps, asked: number | undefined): number {
  const { defaultLeaseSeconds, minLeaseSeconds, maxLeaseSeconds } = deps.config.websub;
  const clamp = (seconds: number) => Math.min(Math.max(seconds, minLeaseSeconds), Math.max(minLeaseSeconds, maxLeaseSeconds));
  return clamp(asked ?? defaultLeaseSeconds);
}
