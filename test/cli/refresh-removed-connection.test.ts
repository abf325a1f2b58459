// `feedproxy refresh` (a real process on the test app's store) while the user removes the OAuth
// connection of a source it is fetching: the removal lands while the provider answers. The source
// ends disabled, and the run answers as its refresh of the disabled source would — `--source`, a
// forced refresh of that one source, failed (exit 1); `--all`, every source that may be refreshed,
// skipped (exit 0) — whatever the provider answered, its refusal of the removed token included.
import { describe, expect, it } from 'vitest';
import { CONNECTION_REMOVED } from '../../src/oauth/signed-requests.js';
import type { TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { signedSource } from '../helpers/signed-source.js';
import { STORES } from '../helpers/stores.js';

/** What `feedproxy refresh` needs to run on the app's store, with its provider and upstreams. */
function cliEnvOf(t: TestApp): Record<string, string> {
  const { config } = t.deps;
  return {
    FEEDPROXY_STORE: config.store,
    FEEDPROXY_STORE_PREFIX: config.storePrefix,
    ...(config.secretKey === undefined ? {} : { FEEDPROXY_SECRET_KEY: config.secretKey }),
    FEEDPROXY_CONFIG: config.configFile ?? '',
    FEEDPROXY_ALLOW_PRIVATE: config.allowPrivate.join(','),
    LOG_LEVEL: 'warn',
  };
}

describe.each(STORES)('feedproxy refresh of a source whose connection is removed while the provider refuses its token (%s)', (store) => {
  /**
   * A signed source whose token the provider has revoked: the next fetch gets its 401, and the user
   * removes the connection just before that answer goes out (its request signed before).
   */
  async function removedDuringRefusal(context: Parameters<typeof signedSource>[0]) {
    const signed = await signedSource(context, { store });
    const { t, provider, apiKey, connectionId } = signed;
    provider.revoke(decodeURIComponent(/oauth_token="([^"]+)"/.exec(provider.stats.lastAuthorization ?? '')![1]!));
    const seen: { removed?: number } = {};
    provider.beforeProblem(async () => {
      provider.beforeProblem(undefined);
      seen.removed = (await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` })).statusCode;
    });
    return { ...signed, seen };
  }

  it("--source: failed with the removal's error, exit 1, as for a good or failed fetch", { timeout: 60_000 }, async (context) => {
    const { t, provider, id, seen } = await removedDuringRefusal(context);

    const run = await runCli(['refresh', '--source', id], cliEnvOf(t));
    // Positive controls: the provider refused the revoked token, the removal landed before that
    // answer, and the source ended disabled by it.
    expect(provider.stats.problems.token_revoked).toBe(1);
    expect(seen.removed).toBe(204);
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });

    expect(run.stdout, run.stderr).toMatch(/^refreshed 0, unchanged 0, failed 1 in \d+\.\ds$/m);
    expect(run.code, run.stderr).toBe(1);
  });

  it('--all: skipped, exit 0, as a disabled source listed is', { timeout: 60_000 }, async (context) => {
    const { t, provider, id, seen } = await removedDuringRefusal(context);

    const run = await runCli(['refresh', '--all'], cliEnvOf(t));
    expect(provider.stats.problems.token_revoked).toBe(1);
    expect(seen.removed).toBe(204);
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });

    expect(run.stdout, run.stderr).toMatch(/^refreshed 0, unchanged 0, failed 0, skipped 1 in \d+\.\ds$/m);
    expect(run.code, run.stderr).toBe(0);
  });
});
