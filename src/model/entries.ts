// Entries as every layer speaks them: what parse/ makes, what the cache keeps. Plain data:
// JSON-serialisable, no classes, no library types.

/** One normalised entry of a feed, whatever format it came in. HTML fields are already sanitised. */
export interface Entry {
  /** Stable id: the upstream guid/id, else the link, else a hash of title+date. */
  id: string;
  title?: string;
  /** Absolute http(s) URL. */
  link?: string;
  /** ISO 8601. */
  published?: string;
  /** ISO 8601. */
  updated?: string;
  authors: Person[];
  /** Sanitised HTML. */
  summary?: string;
  /** Sanitised HTML. */
  content?: string;
  categories: string[];
  enclosures: Enclosure[];
  image?: string;
  /** What podcast apps read beside the enclosure (iTunes tags), when the source gave any. */
  podcast?: Podcast;
  /** Keyed hash of the upstream item this entry was made from (parse/): unchanged items are not made again. */
  fingerprint?: string;
}

export interface Person {
  name?: string;
  email?: string;
  url?: string;
}

/** An episode's iTunes tags, as podcast apps read them. */
export interface Podcast {
  /** Seconds. */
  duration?: number;
  explicit?: boolean;
  episode?: number;
  season?: number;
  /** full, trailer or bonus. */
  episodeType?: string;
  /** itunes:title: the episode's title without show name or numbers. */
  title?: string;
  /** itunes:subtitle. */
  subtitle?: string;
  /** podcast:transcript, each format the publisher offers. */
  transcripts?: Transcript[];
  /** podcast:chapters. */
  chapters?: { url: string; type: string };
  /** podcast:person: hosts and guests. */
  persons?: PodcastPerson[];
  /** podcast:season's name ("The Lighthouse"). */
  seasonName?: string;
  /** podcast:soundbite: seconds into the episode. */
  soundbites?: Array<{ start: number; duration: number; title?: string }>;
}

export interface Transcript {
  url: string;
  type: string;
  language?: string;
  /** "captions" when the file is timed for captions. */
  rel?: string;
}

export interface PodcastPerson {
  name: string;
  role?: string;
  group?: string;
  /** Absolute http(s) URLs. */
  img?: string;
  href?: string;
}

/**
 * What podcast apps read from a source's channel beside its artwork and rating. Never what names
 * the upstream feed itself (itunes:new-feed-url, podcast:guid, podcast:locked): docs/podcasts.md.
 */
export interface PodcastChannel {
  /** itunes:author. */
  author?: string;
  /** itunes:owner, as the publisher published it. */
  owner?: { name?: string; email?: string };
  /** itunes:category, each with its subcategories. */
  categories?: Array<{ text: string; subcategories?: string[] }>;
  /** itunes:type: episodic or serial. */
  type?: string;
  /** RSS <language>, JSON Feed language (BCP 47). */
  language?: string;
  /** itunes:block: keep the feed out of directories. */
  block?: boolean;
  /** itunes:complete: no more episodes will come. */
  complete?: boolean;
  /** podcast:funding. */
  funding?: Array<{ url: string; title?: string }>;
}

export interface Enclosure {
  url: string;
  type?: string;
  length?: number;
}

export type FeedFormat = 'rss' | 'atom' | 'rdf' | 'json';

/** What parse/ makes of an upstream document. */
export interface ParsedFeed {
  format: FeedFormat;
  title?: string;
  /** The site's home page (never the feed's self link). */
  link?: string;
  description?: string;
  /** Minimum refresh interval the document asks for (RSS <ttl>, sy:updatePeriod/updateFrequency), minutes. */
  ttlMinutes?: number;
  /** The feed's artwork (itunes:image, else RSS <image>, Atom <logo>/<icon>): podcast apps show it. */
  image?: string;
  /** itunes:explicit of the channel, when given. */
  explicit?: boolean;
  /** The channel's other podcast metadata, when it has any. */
  podcast?: PodcastChannel;
  entries: Entry[];
}

/** An entry as cached for a source: the entry plus when we first saw it. */
export interface CachedEntry extends Entry {
  sourceId: string;
  /** ISO 8601; used as the date of entries that carry none. */
  firstSeenAt: string;
  /** ISO 8601; since when the entry is missing from the upstream document (drives retention). */
  goneSince?: string;
  /** pipeline/merge's canonical form of `link`, computed once when cached rather than per rebuild. */
  canonicalLink?: string;
}
