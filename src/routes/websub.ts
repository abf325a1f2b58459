// POST /websub — the WebSub hub of our own public feeds (W3C WebSub §5.1). Public, like the feeds:
// anyone who knows a feed URL may subscribe to it. The answer is 202 at once; the verification of
// intent runs after it (websub/verify-intent.ts) and the subscriber learns the result from it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { RateLimitedError, withRetryAfter } from '../errors.js';
import { acceptHubRequest } from '../websub/hub-request.js';
import { createVerificationBudget } from '../websub/verification-budget.js';
import { verifyAndApply } from '../websub/verify-intent.js';
import { addressKey } from './client-address.js';

const FORM = 'application/x-www-form-urlencoded';
// A hub request is four short fields; a callback or topic URL longer than this is not one we keep.
const MAX_FORM_BYTES = 16 * 1024;
/** Verifications in flight per process: each is an outgoing GET that may take the whole fetch timeout. */
const MAX_PENDING_VERIFICATIONS = 100;

const HubRequestSchema = Type.Object({
  'hub.mode': Type.String({ description: 'subscribe or unsubscribe' }),
  'hub.topic': Type.String({ maxLength: 2048, description: 'A public feed URL of this service (<token>.atom, .rss or .json)' }),
  'hub.callback': Type.String({ maxLength: 2048, description: "The subscriber's http(s) callback" }),
  'hub.lease_seconds': Type.Optional(Type.Integer({ minimum: 0, description: 'Asked lease; clamped to the configured bounds' })),
  'hub.secret': Type.Optional(Type.String({ description: 'Signs deliveries (X-Hub-Signature: sha256=…); less than 200 bytes' })),
});

export const websubRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const pending = new Set<Promise<unknown>>();
  // Bytes the pending verifications may pin, per client address and in all (verification-budget.ts).
  const budget = createVerificationBudget();
  app.addHook('onClose', async () => {
    await Promise.allSettled(pending);
  });
  // WebSub requests are form-encoded; the parser lives in this scope only.
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: MAX_FORM_BYTES }, (_request, body, done) => {
    // The first value of a repeated field, like a form read by any web framework.
    const fields: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(body as string)) fields[name] ??= value;
    done(null, fields);
  });

  app.post(
    '/websub',
    {
      config: {
        rateLimit: {
          max: app.deps.config.websub.requestsPerMinute,
          allowList: () => false,
          // One client with an IPv6 /64 has 2^64 addresses: the /64 is counted as one.
          keyGenerator: (request) => `hub:${addressKey(request.ip)}`,
        },
      },
      schema: {
        tags: ['websub'],
        summary: 'WebSub hub: subscribe to or unsubscribe from a public feed (W3C WebSub §5.1); no authentication',
        security: [],
        consumes: [FORM],
        body: HubRequestSchema,
      },
    },
    async (request, reply) => {
      const accepted = await acceptHubRequest(app.deps, request.body);
      if (pending.size >= MAX_PENDING_VERIFICATIONS) {
        throw new RateLimitedError('the hub is verifying as many subscription requests as it can; retry shortly');
      }
      const charged = budget.reserve(addressKey(request.ip), [accepted.callback, accepted.topic, accepted.secret]);
      if ('refused' in charged) {
        const whose = charged.refused === 'address' ? 'from this address are' : 'are';
        throw withRetryAfter(new RateLimitedError(`subscription requests ${whose} being verified; retry shortly`), 30_000);
      }
      const verification = verifyAndApply(app.deps, accepted).finally(() => {
        charged.release();
        pending.delete(verification);
      });
      pending.add(verification);
      return reply.code(202).send('');
    },
  );
};
