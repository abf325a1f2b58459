// Users and their API keys. A key is shown once, at creation; only its hash is stored.
import type { Deps } from '../deps.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { UserRecord } from '../model.js';
import { generateApiKey, hashApiKey, randomToken } from '../vault/seal.js';

export async function createUser(
  deps: Pick<Deps, 'registry' | 'now' | 'logger'>,
  name: string,
): Promise<{ user: UserRecord; apiKey: string }> {
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

export interface UserSummary {
  user: UserRecord;
  sources: number;
  feeds: number;
}

/** Every user with what they have, for `feedproxy users list`; the counts come from the kept counters. */
export async function listUsersWithCounts(deps: Pick<Deps, 'registry'>): Promise<UserSummary[]> {
  const users = await deps.registry.listUsers();
  users.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  const summaries: UserSummary[] = [];
  for (const user of users) {
    const counts = (await deps.registry.getUserCounts(user.id)) ?? (await deps.registry.countUserIndexes(user.id));
    summaries.push({ user, ...counts });
  }
  return summaries;
}

/** The user an id or (unambiguous) name names; a name shared by several users must be given as an id. */
export async function findUser(deps: Pick<Deps, 'registry'>, idOrName: string): Promise<UserRecord> {
  const byId = await deps.registry.getUser(idOrName);
  if (byId) return byId;
  const named = (await deps.registry.listUsers()).filter((user) => user.name === idOrName.trim());
  if (named.length === 1) return named[0]!;
  if (named.length > 1)
    throw new BadRequestError(
      `${named.length} users are named "${idOrName}" (ids ${named.map((user) => user.id).join(', ')}); give the id`,
    );
  throw new NotFoundError(`User "${idOrName}" (neither an id nor a name; see feedproxy users list)`);
}

/** A new API key for the user, shown once; the old key stops working as soon as this returns. */
export async function resetApiKey(
  deps: Pick<Deps, 'registry' | 'logger'>,
  idOrName: string,
): Promise<{ user: UserRecord; apiKey: string }> {
  const user = await findUser(deps, idOrName);
  const apiKey = generateApiKey();
  const updated = await deps.registry.replaceApiKey(user, hashApiKey(apiKey));
  deps.logger.info({ userId: user.id }, 'API key reset');
  return { user: updated, apiKey };
}
