// Called by publish/rebuild-feed after a feed's published bytes changed (issue 8: WebSub fan-out).
import type { Deps } from '../deps.js';

export async function onFeedPublished(_deps: Pick<Deps, 'registry' | 'now' | 'config'>, _feedId: string): Promise<void> {}
