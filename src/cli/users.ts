// `feedproxy users create NAME | list | reset-key ID|NAME`: accounts without the admin API.
import type { Config } from '../config.js';
import { isCodedError } from '../errors.js';
import { createUser, listUsersWithCounts, resetApiKey } from '../services/users.js';
import { openDeps } from './open-deps.js';

const USERS_USAGE = 'usage: feedproxy users create NAME | feedproxy users list | feedproxy users reset-key ID|NAME';

export async function users(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...names] = args;
  const name = names.join(' ').trim();
  const valid = action === 'list' ? names.length === 0 : (action === 'create' || action === 'reset-key') && name !== '';
  if (!valid) {
    console.error(USERS_USAGE);
    return 2;
  }
  const deps = await openDeps(config);
  try {
    if (action === 'list') {
      const rows = (await listUsersWithCounts(deps)).map(({ user, sources, feeds }) => [
        user.id,
        user.name,
        user.createdAt,
        String(sources),
        String(feeds),
      ]);
      printTable(['ID', 'NAME', 'CREATED', 'SOURCES', 'FEEDS'], rows);
      return 0;
    }
    let result;
    try {
      result = action === 'create' ? await createUser(deps, name) : await resetApiKey(deps, name);
    } catch (error) {
      if (!isCodedError(error)) throw error;
      console.error(`feedproxy: ${error.message}`);
      return 2;
    }
    const { user, apiKey } = result;
    console.log(
      action === 'create'
        ? `created user ${user.name} (id ${user.id})`
        : `new API key for ${user.name} (id ${user.id}); the old key no longer works`,
    );
    console.log(`user id: ${user.id}`);
    console.log(`API key (shown once, keep it safe): ${apiKey}`);
    return 0;
  } finally {
    await deps.close();
  }
}

/** Columns padded to their widest cell: readable at a terminal, and `awk '{print $1}'` still works. */
function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows])
    console.log(row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
}
