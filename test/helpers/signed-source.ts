// A test app with a fake OAuth 1.0a provider configured, a user connected to it, and sources signed
// with that connection: what the refresh tests of a provider's 401 start from.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { buildTestApp, type TestApp } from './app.js';
import { startFakeProvider } from './fake-oauth-provider.js';

type Context = Parameters<typeof buildTestApp>[0];
/** buildTestApp's options; `allowPrivate` adds to the provider's address. */
type AppOptions = Omit<NonNullable<Parameters<typeof buildTestApp>[1]>, 'env'>;

/** What the user's browser does with an authorize URL: the provider's login page redirects to our callback. */
export async function authorizeInBrowser(t: TestApp, authorizeUrl: string): Promise<void> {
  const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
  expect((await t.app.inject({ method: 'GET', url: callback.pathname + callback.search })).statusCode).toBe(200);
}

/** The user asks to link the connection again: answers the provider's authorize URL (the old token still signs). */
export async function startRelink(t: TestApp, apiKey: string, connectionId: string): Promise<string> {
  const started = await t.api(apiKey, { method: 'POST', url: `/api/v1/connections/${connectionId}/relink` });
  expect(started.statusCode, started.body).toBe(200);
  return started.json().authorizeUrl as string;
}

/** The user links the connection again (a new access token), as the API and the browser do it. */
export async function relink(t: TestApp, apiKey: string, connectionId: string): Promise<void> {
  await authorizeInBrowser(t, await startRelink(t, apiKey, connectionId));
}

/** A fake OAuth provider, closed when the test ends, and a test app configured with it as `netflix`. */
export async function providerApp(context: Context, options: AppOptions = {}) {
  const provider = await startFakeProvider();
  context.onTestFinished(() => provider.close());
  const { id: _id, ...settings } = provider.config;
  const file = join(mkdtempSync(join(tmpdir(), 'feedproxy-oauth-')), 'feedproxy.yaml');
  writeFileSync(file, stringify({ providers: { netflix: settings } }));
  const t = await buildTestApp(context, {
    ...options,
    allowPrivate: [provider.hostPort, ...(options.allowPrivate ?? [])],
    env: { FEEDPROXY_CONFIG: file },
  });
  return { t, provider };
}

/** A test app configured with a fake OAuth provider, a user connected to it, and a source signed with that connection. */
export async function signedSource(context: Context, options: AppOptions = {}) {
  const { t, provider } = await providerApp(context, options);
  const apiKey = await t.createUserKey();
  const started = (await t.api(apiKey, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } })).json();
  await authorizeInBrowser(t, started.authorizeUrl);
  const connectionId = started.id as string;
  const created = await t.api(apiKey, {
    method: 'POST',
    url: '/api/v1/sources',
    payload: { url: `${provider.baseUrl}/users/{user_id}/queues/disc`, connectionId },
  });
  expect(created.statusCode, created.body).toBe(201);
  return { t, provider, apiKey, connectionId, id: created.json().id as string };
}

/** signedSource with a second source on the same connection, and the connection's token revoked by the provider. */
export async function revokedWithSibling(context: Context, options: AppOptions = {}) {
  const signed = await signedSource(context, options);
  const { t, provider, apiKey, connectionId } = signed;
  const sibling = await t.api(apiKey, {
    method: 'POST',
    url: '/api/v1/sources',
    payload: { url: `${provider.baseUrl}/users/{user_id}/queues/disc?list=2`, connectionId },
  });
  expect(sibling.statusCode, sibling.body).toBe(201);
  const token = (provider.stats.lastAuthorization ?? '').match(/oauth_token="([^"]+)"/)?.[1];
  expect(token).toBeTruthy();
  provider.revoke(decodeURIComponent(token!));
  return { ...signed, siblingId: sibling.json().id as string };
}
