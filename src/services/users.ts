// Users and their API keys. A key is shown once, at creation; only its hash is stored.
import type { Deps } from '../deps.js';
import { BadRequestError } from '../errors.js';
import type { UserRecord } from '../store/registry.js';
import { generateApiKey, hashApiKey, randomToken } from '../vault/seal.js';

export async function createUser(deps: Pick<Deps, 'registry' | 'now' | 'logger'>, name: string): Promise<{ user: UserRecord; apiKey: string }> {
  const cleaned = typeof name === 'string' ? name.trim() : '';
  if (!cleaned || cleaned.length > 100) throw new BadRequestError('name must be 1 to 100 characters');
  const apiKey = generateApiKey();
  const user: UserRecord = { id: randomToken(9), name: cleaned, apiKeyHash: hashApiKey(apiKey), createdAt: deps.now().toISOString() };
  await deps.registry.createUser(user);
  deps.logger.info({ userId: user.id }, 'user created');
  return { user, apiKey };
}

export async function authenticate(deps: Pick<Deps, 'registry'>, apiKey: string): Promise<UserRecord | undefined> {
  if (!apiKey.startsWith('fp_') || apiKey.length > 200) return undefined;
  return deps.registry.findUserByApiKeyHash(hashApiKey(apiKey));
}
