// OPML export: the user's merged feeds at their public URLs. Only what a subscriber may see goes
// in — a feed's title and public URLs — never a source, so no upstream URL or token can leak.
import type { Deps } from '../deps.js';
import { pageUrlOf, publicUrlsOf } from '../publish/public-urls.js';
import { buildOpml } from './opml-xml.js';

export async function exportOpml(deps: Pick<Deps, 'config' | 'registry' | 'now'>, userId: string): Promise<string> {
  const feeds = await deps.registry.listFeeds(userId);
  feeds.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  const { publicUrl } = deps.config;
  return buildOpml({
    title: 'feedproxy feeds',
    dateCreated: deps.now(),
    outlines: feeds.map((feed) => ({
      title: feed.title,
      xmlUrl: publicUrlsOf(publicUrl, feed.publicToken).atom,
      // The discovery page (GET /f/:token) of the feed's default token: readers find all three formats there.
      htmlUrl: pageUrlOf(publicUrl, feed.publicToken),
    })),
  });
}
