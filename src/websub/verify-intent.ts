// Verification of intent (W3C WebSub §5.3): before a subscription is stored or removed, the
// callback must echo a random challenge. The GET goes through the fetcher, so a callback that
// resolves to a private address is refused before any packet is sent, and nothing is stored.
import { randomBytes } from 'node:crypto';
import type { Deps } from '../deps.js';
import { isCodedError } from '../errors.js';
import { findPublishedFeed } from '../publish/published.js';
import type { AcceptedRequest } from './hub-request.js';
import { VERIFICATION_ANSWER_BYTES } from './verification-budget.js';
import { deleteSubscription, getSubscription, saveSubscription, subscriptionIdsOfFeed, type Subscription } from './subscriptions.js';

type VerifyDeps = Pick<Deps, 'config' | 'registry' | 'vault' | 'fetcher' | 'logger' | 'metrics' | 'now'>;

export type VerificationOutcome = 'verified' | 'refused' | 'gone';

/** Verifies `request` with its callback and, when the subscriber confirms, applies it. Never throws. */
export async function verifyAndApply(deps: VerifyDeps, request: AcceptedRequest): Promise<VerificationOutcome> {
  const log = { subscription: request.id, host: hostOf(request.callback), mode: request.mode };
  let outcome: VerificationOutcome;
  try {
    outcome = (await confirmsIntent(deps, request)) ? await apply(deps, request) : 'refused';
  } catch (error) {
    deps.logger.warn({ ...log, err: isCodedError(error) ? error.code : (error as Error).name }, 'websub verification failed');
    outcome = 'refused';
  }
  deps.metrics.websubVerifications.inc({ mode: request.mode, outcome });
  deps.logger.info({ ...log, outcome }, 'websub verification');
  return outcome;
}

/** §5.3: GET callback?hub.mode&hub.topic&hub.challenge[&hub.lease_seconds]; 2xx with exactly the challenge confirms. */
async function confirmsIntent(deps: VerifyDeps, request: AcceptedRequest): Promise<boolean> {
  const challenge = randomBytes(24).toString('base64url');
  const url = new URL(request.callback);
  // The callback's own query stays: the parameters are appended to it (§5.3).
  url.searchParams.append('hub.mode', request.mode);
  url.searchParams.append('hub.topic', request.topic);
  url.searchParams.append('hub.challenge', challenge);
  if (request.mode === 'subscribe') url.searchParams.append('hub.lease_seconds', String(request.leaseSeconds));
  // The echo is 32 characters: a callback answering megabytes is cut off after a few KiB, not read
  // up to the feed cap (issue 18: 60 such answers held ~1 GB). Nor is it worth compressing.
  const response = await deps.fetcher.request({
    method: 'GET',
    url: url.href,
    headers: { 'accept-encoding': 'identity' },
    maxBodyBytes: VERIFICATION_ANSWER_BYTES,
  });
  return response.status >= 200 && response.status < 300 && response.body.toString('utf8') === challenge;
}

async function apply(deps: VerifyDeps, request: AcceptedRequest): Promise<VerificationOutcome> {
  const existing = await getSubscription(deps, request.id);
  if (request.mode === 'unsubscribe') {
    if (existing) await deleteSubscription(deps, existing);
    return 'verified';
  }
  // The topic may have been revoked, or the feed filled up, while the callback answered.
  const target = await findPublishedFeed(deps, request.token);
  if (!target || target.feedId !== request.feedId) return 'gone';
  if (!existing && (await subscriptionIdsOfFeed(deps, target.feedId)).length >= deps.config.websub.maxSubscriptionsPerFeed)
    return 'refused';
  const now = deps.now();
  const subscription: Subscription = {
    // A renewal keeps where deliveries stand (the last ETag sent, a pending retry).
    failures: 0,
    ...existing,
    id: request.id,
    topic: request.topic,
    feedId: target.feedId,
    token: request.token,
    format: request.format,
    callbackSealed: deps.vault.seal(request.callback),
    callbackHost: hostOf(request.callback),
    leaseSeconds: request.leaseSeconds,
    expiresAt: new Date(now.getTime() + request.leaseSeconds * 1000).toISOString(),
    createdAt: existing?.createdAt ?? now.toISOString(),
  };
  // A renewal without hub.secret ends signing: the request replaces the subscription whole (§5.1).
  if (request.secret === undefined) delete subscription.secretSealed;
  else subscription.secretSealed = deps.vault.seal(request.secret);
  await saveSubscription(deps, subscription);
  return 'verified';
}

export function hostOf(url: string): string {
  return URL.parse(url)?.host ?? 'callback';
}
