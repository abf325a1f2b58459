// `feedproxy keys rotate`: every sealed value in the store, opened with the vault in use (which
// also accepts the previous key) and sealed again with the new key. Idempotent: a value already
// under the new key is simply re-sealed, so an interrupted rotation can be run again.
// It walks the aggregates here, in services/, so vault/ stays a library that knows no records.
import type { Registry } from '../store/registry.js';
import type { Vault } from '../vault/seal.js';
import { resealSubscriptions } from '../websub/subscriptions.js';
import { urlDigestsOf } from './source-index.js';

export interface RotationCount {
  sources: number;
  connections: number;
  subscriptions: number;
}

export async function resealAll(registry: Registry, from: Vault, to: Vault): Promise<RotationCount> {
  const reseal = (sealed: string | undefined) => (sealed === undefined ? undefined : to.seal(from.open(sealed)));
  let sources = 0;
  const { pages } = await registry.sourcePages();
  for await (const page of pages)
    for (const source of page.sources) {
      // The duplicate index is keyed by the vault key too: its entries move to the new key's digests
      // (of the stored URL; an HTML page's own URL is no longer known and is simply fetched again).
      const url = from.open(source.urlSealed);
      const urlDigests = urlDigestsOf({ vault: to }, [url], source.connectionId);
      await registry.unindexSourceUrls(
        source.userId,
        source.id,
        source.urlDigests ?? urlDigestsOf({ vault: from }, [url], source.connectionId),
      );
      await registry.saveSource({ ...source, urlSealed: to.seal(url), secretsSealed: reseal(source.secretsSealed), urlDigests });
      await registry.indexSourceUrls(source.userId, source.id, urlDigests);
      sources += 1;
    }
  let connections = 0;
  for (const user of await registry.listUsers()) {
    for (const connection of await registry.listConnections(user.id)) {
      await registry.saveConnection(
        {
          ...connection,
          requestTokenSealed: reseal(connection.requestTokenSealed),
          requestSecretSealed: reseal(connection.requestSecretSealed),
          accessTokenSealed: reseal(connection.accessTokenSealed),
          accessSecretSealed: reseal(connection.accessSecretSealed),
        },
        connection,
      );
      connections += 1;
    }
  }
  const subscriptions = await resealSubscriptions({ registry }, from, to);
  // Last: once the check value opens only with the new key, a start with the old one is refused.
  const check = await registry.keyCheck.read();
  if (check !== undefined) await registry.keyCheck.write(to.seal(from.open(check)));
  return { sources, connections, subscriptions };
}
