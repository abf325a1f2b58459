// Content distribution (W3C WebSub §7): one due subscription, under a store lease so exactly one
// process in the cluster sends it. The POST carries the topic's current document as its reader
// gets it, the hub and self links, and an HMAC signature when the subscriber gave a secret (§8).
import { createHmac } from 'node:crypto';
import type { Deps } from '../deps.js';
import { ForbiddenAddressError, InvalidUrlError, isCodedError } from '../errors.js';
import { findPublishedFeed, readPublished, readPublishedHead } from '../publish/published.js';
import { hubUrlOf } from '../publish/public-urls.js';
import { lease } from '../store/leases.js';
import { deleteSubscription, getSubscription, putSubscriptionRecord, type Subscription } from './subscriptions.js';
import { topicTextRefusal } from './topic.js';

export type DeliverDeps = Pick<Deps, 'config' | 'registry' | 'vault' | 'fetcher' | 'logger' | 'metrics' | 'now' | 'instanceId'>;

export type DeliveryOutcome = 'delivered' | 'unchanged' | 'failed' | 'dropped' | 'waiting' | 'busy';

// Callback errors that no retry can fix: the address became private, or the URL is refused.
const PERMANENT_ERRORS = new Set<string>([ForbiddenAddressError.code, InvalidUrlError.code]);

/** Delivers the current document of `id`'s topic if it is owed one and ready (not backing off). */
export async function deliverDue(deps: DeliverDeps, id: string): Promise<DeliveryOutcome> {
  const { subscriptions } = deps.registry;
  // Bounded by the fetch deadline; the store renews a lease while its holder lives.
  const ttlMs = deps.config.fetch.timeoutSeconds * 1000 + 30_000;
  const delivered = await deps.registry.leases.withLease(
    lease.websubDelivery(id),
    deps.instanceId,
    { ttlMs, waitMs: 0, pollMs: 0 },
    async () => {
      // Read under the lease: another process may have just delivered, or the subscriber left.
      const subscription = await getSubscription(deps, id);
      const outcome = subscription ? await deliverOne(deps, subscription) : 'dropped';
      if (!subscription) await subscriptions.unmarkDue(id);
      if (outcome !== 'waiting') deps.metrics.websubDeliveries.inc({ outcome });
      return outcome;
    },
  );
  if (delivered.held) return delivered.value;
  deps.metrics.websubDeliveries.inc({ outcome: 'busy' });
  return 'busy';
}

async function deliverOne(deps: DeliverDeps, subscription: Subscription): Promise<DeliveryOutcome> {
  const now = deps.now().getTime();
  if (Date.parse(subscription.expiresAt) <= now) return drop(deps, subscription, 'lease expired');
  // Sent as is in every delivery's Link header: one accepted before the topic rules would fail each time.
  if (topicTextRefusal(subscription.topic) !== undefined) return drop(deps, subscription, 'topic refused');
  if (subscription.retryAt !== undefined && Date.parse(subscription.retryAt) > now) return 'waiting';
  const target = await findPublishedFeed(deps, subscription.token);
  if (!target || target.feedId !== subscription.feedId) return drop(deps, subscription, 'topic revoked');
  const document = await readPublished(deps, target, subscription.format, subscription.token);
  // Only a rebuild racing this read leaves a live token without a document: try again next tick.
  if (!document) return 'waiting';
  if (document.etag === subscription.deliveredEtag) {
    await settle(deps, subscription, document.etag);
    return 'unchanged';
  }

  const callback = deps.vault.open(subscription.callbackSealed);
  const headers: Record<string, string> = {
    'content-type': document.contentType,
    // Only the answer's status counts (§7): its body is thrown away unread, so nothing to compress.
    'accept-encoding': 'identity',
    // §7: the hub and self links of the topic, as the subscriber discovered them.
    link: `<${hubUrlOf(deps.config.publicUrl)}>; rel="hub", <${subscription.topic}>; rel="self"`,
  };
  if (subscription.secretSealed !== undefined) {
    const secret = deps.vault.open(subscription.secretSealed);
    headers['x-hub-signature'] = `sha256=${createHmac('sha256', secret).update(document.body, 'utf8').digest('hex')}`;
  }
  let status: number;
  try {
    status = (await deps.fetcher.request({ method: 'POST', url: callback, headers, body: document.body, discardBody: true })).status;
  } catch (error) {
    const code = isCodedError(error) ? error.code : (error as Error).name;
    if (PERMANENT_ERRORS.has(code)) return drop(deps, subscription, code);
    return fail(deps, subscription, code);
  }
  // §7: "a 410 Gone … the hub MAY … consider the subscription as deleted" — we do.
  if (status === 410) return drop(deps, subscription, 'callback answered 410');
  if (status < 200 || status >= 300) return fail(deps, subscription, `HTTP ${status}`);
  await updateDeliveryState(deps, subscription.id, { deliveredEtag: document.etag, failures: 0, retryAt: undefined });
  await settle(deps, subscription, document.etag);
  deps.logger.debug({ subscription: subscription.id, host: subscription.callbackHost }, 'websub delivered');
  return 'delivered';
}

/**
 * Takes the subscription off the due set, then looks once more: a feed published after we read
 * it but before the removal would otherwise be lost, since its mark was already there.
 */
async function settle(deps: DeliverDeps, subscription: Subscription, deliveredEtag: string): Promise<void> {
  const { subscriptions } = deps.registry;
  await subscriptions.unmarkDue(subscription.id);
  const target = await findPublishedFeed(deps, subscription.token);
  const head = target && (await readPublishedHead(deps, target, subscription.token, subscription.format));
  if (head && head.etag !== deliveredEtag) await subscriptions.markDue(subscription.id);
}

/** Exponential backoff, then the subscription goes (WebSub leaves the policy to the hub). */
async function fail(deps: DeliverDeps, subscription: Subscription, reason: string): Promise<DeliveryOutcome> {
  const { retryBaseSeconds, retryMaxSeconds, maxAttempts } = deps.config.websub;
  const failures = subscription.failures + 1;
  if (failures >= maxAttempts) return drop(deps, subscription, `${failures} failed deliveries (${reason})`);
  const delayMs = Math.min(retryBaseSeconds * 2 ** (failures - 1), retryMaxSeconds) * 1000;
  const retryAt = new Date(deps.now().getTime() + delayMs).toISOString();
  await updateDeliveryState(deps, subscription.id, { failures, retryAt });
  deps.logger.warn({ subscription: subscription.id, host: subscription.callbackHost, reason, failures, retryAt }, 'websub delivery failed');
  return 'failed';
}

async function drop(deps: DeliverDeps, subscription: Subscription, reason: string): Promise<DeliveryOutcome> {
  await deleteSubscription(deps, subscription);
  deps.logger.info({ subscription: subscription.id, host: subscription.callbackHost, reason }, 'websub subscription dropped');
  return 'dropped';
}

/**
 * Writes the delivery fields onto the record as it is now, not as it was read: a renewal verified
 * meanwhile (new lease, new secret) is kept, and a subscription removed meanwhile stays removed.
 */
async function updateDeliveryState(
  deps: DeliverDeps,
  id: string,
  state: Pick<Subscription, 'failures'> & Partial<Pick<Subscription, 'deliveredEtag' | 'retryAt'>>,
): Promise<void> {
  const current = await getSubscription(deps, id);
  if (!current) return;
  const next: Subscription = { ...current, ...state };
  if (state.retryAt === undefined) delete next.retryAt;
  await putSubscriptionRecord(deps, next);
}
