// `feedproxy keys rotate` must re-seal what the hub sealed: callbacks and secrets open with the new key.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVault } from '../../src/vault/seal.js';
import { getSubscription, resealSubscriptions, saveSubscription, type Subscription } from '../../src/websub/subscriptions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('resealSubscriptions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('re-seals every callback and secret under the new key', async () => {
    const [oldVault, newVault] = [createVault(randomBytes(32)), createVault(randomBytes(32))];
    const base: Subscription = {
      id: 'sub-1',
      topic: 'http://feeds.test/AbCdEfGhIjKlMnOpQr.atom',
      feedId: 'feed-1',
      token: 'AbCdEfGhIjKlMnOpQr',
      format: 'atom',
      callbackSealed: oldVault.seal('https://reader.example/cb?key=READER'),
      callbackHost: 'reader.example',
      secretSealed: oldVault.seal('hub-secret'),
      leaseSeconds: 3600,
      expiresAt: '2030-01-01T00:00:00.000Z',
      createdAt: '2026-01-01T00:00:00.000Z',
      failures: 0,
    };
    const { secretSealed: _secret, ...unsigned } = { ...base, id: 'sub-2', callbackSealed: oldVault.seal('https://other.example/cb') };
    await saveSubscription(t.deps, base);
    await saveSubscription(t.deps, unsigned);

    expect(await resealSubscriptions(t.deps, oldVault, newVault)).toBe(2);
    const [first, second] = [await getSubscription(t.deps, 'sub-1'), await getSubscription(t.deps, 'sub-2')];
    expect(newVault.open(first!.callbackSealed)).toBe('https://reader.example/cb?key=READER');
    expect(newVault.open(first!.secretSealed!)).toBe('hub-secret');
    expect(() => oldVault.open(first!.callbackSealed)).toThrow();
    expect(newVault.open(second!.callbackSealed)).toBe('https://other.example/cb');
    expect(second!.secretSealed).toBeUndefined();
  });
});
