// OAuth 1.0a connections: the records (tokens sealed) and the request-token index the callback
// finds a pending connection by.
import type { ConnectionRecord } from '../model.js';
import type { KeyValueStore } from './kv.js';
import { getMany, getOwned, key, set } from './keys.js';

export type ConnectionRepository = ReturnType<typeof createConnectionRepository>;

export function createConnectionRepository(store: KeyValueStore) {
  async function saveIfMatching(
    connection: ConnectionRecord,
    read: ConnectionRecord,
    fields: Array<'accessTokenSealed' | 'status' | 'requestTokenHash' | 'updatedAt'>,
  ): Promise<boolean> {
    const written = await store.setIfMatches(key.connection(connection.id), connection, {
      fields: Object.fromEntries(fields.map((field) => [field, read[field]])),
      listed: { set: set.userConnections(read.userId), member: read.id },
    });
    // The request-token index follows the record, as saveConnection keeps it.
    if (written && connection.requestTokenHash && connection.requestTokenHash !== read.requestTokenHash)
      await store.set(key.requestToken(connection.requestTokenHash), connection.id);
    if (written && read.requestTokenHash && read.requestTokenHash !== connection.requestTokenHash)
      await store.delete(key.requestToken(read.requestTokenHash));
    return written;
  }

  return {
    async saveConnection(connection: ConnectionRecord, previous?: ConnectionRecord): Promise<void> {
      await store.set(key.connection(connection.id), connection);
      await store.addMember(set.userConnections(connection.userId), connection.id);
      if (connection.requestTokenHash) await store.set(key.requestToken(connection.requestTokenHash), connection.id);
      if (previous?.requestTokenHash && previous.requestTokenHash !== connection.requestTokenHash) {
        await store.delete(key.requestToken(previous.requestTokenHash));
      }
    },
    /**
     * Writes `connection` over the stored record only while that is still listed and still the record
     * `read` (one compare-and-set of its access token, status, pending request and last update): a
     * relink begun or finished since, or a delete, wins. False when nothing was written. A pending
     * request the write drops leaves the request-token index with it.
     */
    async saveConnectionIfUnchanged(connection: ConnectionRecord, read: ConnectionRecord): Promise<boolean> {
      return saveIfMatching(connection, read, ['accessTokenSealed', 'status', 'requestTokenHash', 'updatedAt']);
    },
    /**
     * A relink's start and the OAuth callback's writes: `connection` over the stored record while it is still listed and
     * still holds the link `read` held (its access token and pending request). A removal or a relink
     * begun since wins; a mark or a clock offset written since for the old token does not stop it.
     */
    async saveConnectionIfSameLink(connection: ConnectionRecord, read: ConnectionRecord): Promise<boolean> {
      return saveIfMatching(connection, read, ['accessTokenSealed', 'requestTokenHash']);
    },
    async getConnection(id: string): Promise<ConnectionRecord | undefined> {
      return store.get<ConnectionRecord>(key.connection(id));
    },
    async getOwnedConnection(userId: string, id: string): Promise<ConnectionRecord | undefined> {
      return getOwned<ConnectionRecord>(store, key.connection(id), userId);
    },
    async findConnectionByRequestTokenHash(hash: string): Promise<ConnectionRecord | undefined> {
      const id = await store.get<string>(key.requestToken(hash));
      return id ? store.get<ConnectionRecord>(key.connection(id)) : undefined;
    },
    async listConnections(userId: string): Promise<ConnectionRecord[]> {
      return getMany<ConnectionRecord>(store, await store.members(set.userConnections(userId)), key.connection);
    },
    /** The connection's sources are owed a relink's put-back (set.pendingPutBacks): marked before the link is written. */
    async markPutBackPending(connectionId: string): Promise<void> {
      await store.addMember(set.pendingPutBacks, connectionId);
    },
    async unmarkPutBackPending(connectionId: string): Promise<void> {
      await store.removeMember(set.pendingPutBacks, connectionId);
    },
    pendingPutBackConnectionIds(): Promise<string[]> {
      return store.members(set.pendingPutBacks);
    },
    async deleteConnection(connection: ConnectionRecord): Promise<void> {
      if (connection.requestTokenHash) await store.delete(key.requestToken(connection.requestTokenHash));
      await store.removeMember(set.userConnections(connection.userId), connection.id);
      await store.delete(key.connection(connection.id));
    },
  };
}
