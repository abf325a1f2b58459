// Bench 2 — a refresh pass: N sources on a local upstream (its own process, 16 ports = 16 hosts,
// realistic feeds of varied size, one source in five answering 304), refreshed by refreshBatch()
// with the configured limits, against the floor: the same requests (same validators) with plain
// undici at the same concurrency, the same bytes parsed by feedsmith alone, and the same sanitiser
// run on the HTML of each item the floor has not seen with that HTML before (see FloorMemory).
// Sources are written through the registry (no creation fetch); a first, unmeasured pass fills
// their caches and validators, so the measured pass is steady state: 80% of sources have one new
// entry, 20% answer 304.
import { parseFeed as parseWithFeedsmith } from 'feedsmith';
import { hash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { Agent, request } from 'undici';
import { sanitizeHtml } from '../src/parse/sanitize-html.js';
import { refreshBatch } from '../src/refresh/run-batch.js';
import type { SourceRecord } from '../src/model.js';
import { startChild, type Child } from './lib/child.js';
import { benchResult, measure, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { addFeed, addSource, addUser, openInstance, storeBytes, type BenchInstance } from './lib/instance.js';
import type { UpstreamReady } from './upstream-server.js';

export interface PassFigures {
  label: string;
  sources: number;
  wallMs: number;
  cpuMs: number;
  outcomes: Record<string, number>;
}

export interface Upstream {
  child: Child;
  ready: UpstreamReady;
}

export async function startBenchUpstream(): Promise<Upstream> {
  const { child, ready } = await startChild<UpstreamReady>('upstream-server.ts');
  return { child, ready };
}

function urlOf(upstream: Upstream, index: number): string {
  const hostPort = upstream.ready.hostPorts[index % upstream.ready.hostPorts.length]!;
  return `http://${hostPort}/f/${index}?feed_token=bench-secret-${index.toString(36).padStart(6, '0')}`;
}

/**
 * What the floor remembers of each URL between passes: item key → the item's HTML as last
 * sanitised. The least work that gives our answer sanitises only an item that is new or whose HTML
 * changed (ours skips the rest by fingerprint), so the floor does the same from plain memory — no
 * store, no fingerprints. Primed from the documents the warm-up pass saw, so the measured passes
 * sanitise what changed since, as ours does.
 */
type FloorMemory = Map<string, Map<string, string>>;
const floorMemories = new WeakMap<BenchInstance, FloorMemory>();

type LooseItem = Record<string, unknown>;
const field = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const nested = (value: unknown, key: string): string | undefined =>
  value !== null && typeof value === 'object' ? field((value as LooseItem)[key]) : undefined;

/** The item key and HTML fields our parser sanitises, read off feedsmith's item of any format. */
function itemHtml(item: LooseItem): { key: string; html: string[] } {
  const key = nested(item.guid, 'value') ?? field(item.id) ?? field(item.link) ?? field(item.title) ?? '';
  const html = [
    field(item.description),
    nested(item.content, 'encoded'),
    nested(item.content, 'value'),
    nested(item.summary, 'value'),
    field(item.content_html),
    field(item.summary),
  ].filter((value): value is string => value !== undefined);
  return { key, html };
}

/** Parses `body`, sanitises the HTML of its new or changed items; answers the format and how many items it sanitised. */
function parseAndSanitise(memory: FloorMemory, url: string, body: string): { format: string; sanitised: number } {
  const parsed = parseWithFeedsmith(body);
  const feed = parsed.feed as { items?: LooseItem[]; entries?: LooseItem[] };
  const known = memory.get(url) ?? new Map<string, string>();
  const seen = new Map<string, string>();
  let sanitised = 0;
  for (const item of feed.items ?? feed.entries ?? []) {
    const { key, html } = itemHtml(item);
    const joined = html.join('\u0000');
    if (known.get(key) !== joined) {
      for (const value of html) sanitizeHtml(value, url);
      sanitised += 1;
    }
    seen.set(key, joined);
  }
  memory.set(url, seen);
  return { format: parsed.format, sanitised };
}

/** Unmeasured: every source's current document, fetched without validators, into the floor's memory. */
async function primeFloor(instance: BenchInstance): Promise<void> {
  const memory: FloorMemory = new Map();
  const agent = new Agent();
  try {
    for (const source of await instance.deps.registry.listAllSources()) {
      const url = instance.deps.vault.open(source.urlSealed);
      const response = await request(url, { dispatcher: agent });
      parseAndSanitise(memory, url, await response.body.text());
    }
  } finally {
    await agent.close();
  }
  floorMemories.set(instance, memory);
}

/** One instance with `count` sources on the upstream, caches and validators filled by one pass. */
export async function prepareRefreshInstance(
  upstream: Upstream,
  count: number,
): Promise<{ instance: BenchInstance; sources: SourceRecord[]; warm: PassFigures }> {
  await upstream.child.ask({ generation: 0 });
  const instance = await openInstance({ env: { FEEDPROXY_ALLOW_PRIVATE: upstream.ready.hostPorts.join(',') } });
  const userId = await addUser(instance.deps);
  for (let index = 0; index < count; index++)
    await addSource(instance.deps, { userId, url: urlOf(upstream, index), title: `Source ${index}` });
  const warm = await runOurPass(instance, 'warm-up (all 200, empty caches)');
  await primeFloor(instance);
  return { instance, sources: await instance.deps.registry.listAllSources(), warm };
}

export async function runOurPass(instance: BenchInstance, label: string): Promise<PassFigures> {
  const { deps } = instance;
  const sources = await deps.registry.listAllSources();
  const {
    value: results,
    wallMs,
    cpuMs,
  } = await measure(() =>
    refreshBatch(deps, sources, { concurrency: deps.config.refresh.concurrency, perHost: deps.config.refresh.perHostConcurrency }),
  );
  const outcomes: Record<string, number> = {};
  for (const result of results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
  return { label, sources: sources.length, wallMs, cpuMs, outcomes };
}

/**
 * What the floor of an upstream without validators remembers of each URL: a digest of the body it
 * parsed last. The least work that gives our answer for the same bytes again is to notice that they
 * are the same (ours keeps a digest of them on the source's record), so the floor does the same from
 * plain memory. Filled by primeDigests, unmeasured.
 */
const floorDigests = new WeakMap<BenchInstance, Map<string, string>>();

/** Unmeasured: every source's current body, fetched without validators, remembered by digest. */
export async function primeDigests(instance: BenchInstance): Promise<void> {
  const digests = new Map<string, string>();
  const agent = new Agent();
  try {
    for (const source of await instance.deps.registry.listAllSources()) {
      const url = instance.deps.vault.open(source.urlSealed);
      const response = await request(url, { dispatcher: agent });
      digests.set(url, hash('sha256', Buffer.from(await response.body.arrayBuffer()), 'base64url'));
    }
  } finally {
    await agent.close();
  }
  floorDigests.set(instance, digests);
}

/**
 * The floor: the same GETs (same URLs and If-None-Match) through a plain undici Agent, feedsmith on
 * each 200 body, and the sanitiser on the HTML of its new or changed items. With `sameBytes` (an
 * upstream without validators, primeDigests run first): no validators sent, and a body whose digest
 * is the one remembered is not parsed.
 */
export async function runFloorPass(instance: BenchInstance, label: string, { sameBytes = false } = {}): Promise<PassFigures> {
  const { deps } = instance;
  const memory = floorMemories.get(instance);
  if (memory === undefined) throw new Error('the floor runs on an instance from prepareRefreshInstance (its memory is primed there)');
  const digests = floorDigests.get(instance);
  if (sameBytes && digests === undefined) throw new Error('a same-bytes floor pass needs primeDigests first');
  const sources = await deps.registry.listAllSources();
  const requests = sources.map((source) => ({ url: deps.vault.open(source.urlSealed), etag: sameBytes ? undefined : source.etag }));
  const agent = new Agent();
  const outcomes: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const { url, etag } = requests[next++]!;
      const response = await request(url, { dispatcher: agent, headers: etag ? { 'if-none-match': etag } : {} });
      if (response.statusCode === 304) {
        await response.body.dump();
        outcomes['not-modified'] = (outcomes['not-modified'] ?? 0) + 1;
        continue;
      }
      if (sameBytes) {
        const body = Buffer.from(await response.body.arrayBuffer());
        const digest = hash('sha256', body, 'base64url');
        if (digests!.get(url) === digest) {
          outcomes['same bytes'] = (outcomes['same bytes'] ?? 0) + 1;
          continue;
        }
        digests!.set(url, digest);
        const { format } = parseAndSanitise(memory, url, body.toString());
        outcomes[format] = (outcomes[format] ?? 0) + 1;
        continue;
      }
      const { format, sanitised } = parseAndSanitise(memory, url, await response.body.text());
      outcomes[format] = (outcomes[format] ?? 0) + 1;
      outcomes['items sanitised'] = (outcomes['items sanitised'] ?? 0) + sanitised;
    }
  };
  const { wallMs, cpuMs } = await measure(() => Promise.all(Array.from({ length: deps.config.refresh.concurrency }, worker)));
  await agent.close();
  return { label, sources: requests.length, wallMs, cpuMs, outcomes };
}

function passRow(pass: PassFigures, floor?: PassFigures): Array<string | number> {
  const perSecond = (pass.sources / pass.wallMs) * 1000;
  return [
    pass.label,
    pass.sources,
    pass.wallMs / 1000,
    perSecond,
    pass.cpuMs / pass.sources,
    floor ? pass.cpuMs / floor.cpuMs : '—',
    floor ? pass.wallMs / floor.wallMs : '—',
    Object.entries(pass.outcomes)
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(', '),
  ];
}

/** The pass with the median CPU time. */
function medianPass(passes: PassFigures[]): PassFigures {
  return [...passes].sort((a, b) => a.cpuMs - b.cpuMs)[Math.floor(passes.length / 2)]!;
}

export async function runRefreshBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const count = options.quick ? 150 : 5000;
  // The feeds variant and the scaling row run on a second, smaller instance: a pass where every
  // change re-renders a feed is slow enough that 5,000 of them would dominate the whole run.
  const smallCount = options.quick ? 50 : 1000;
  const upstream = await startBenchUpstream();
  let generation = 0;
  try {
    const { instance, warm } = await prepareRefreshInstance(upstream, count);
    let floor: PassFigures, ours: PassFigures, floor304: PassFigures, ours304: PassFigures, bytesOnDisk: number;
    let floorSame: PassFigures, oursSame: PassFigures;
    try {
      // Floor and ours on the same generation, one after the other: same changes, same noise.
      await upstream.child.ask({ generation: ++generation });
      floor = await runFloorPass(instance, 'floor, 80% 200 + 20% 304');
      ours = await runOurPass(instance, 'refreshBatch, 80% 200 + 20% 304');
      // Nothing changed since the last pass: every source answers 304. These passes are short (a
      // few ms of CPU a source): three of each, alternating, and the median pass of each is kept.
      const floors304: PassFigures[] = [];
      const ours304s: PassFigures[] = [];
      for (let round = 0; round < 3; round++) {
        floors304.push(await runFloorPass(instance, 'floor, all 304 (median of 3)'));
        ours304s.push(await runOurPass(instance, 'refreshBatch, all 304 (median of 3)'));
      }
      floor304 = medianPass(floors304);
      ours304 = medianPass(ours304s);
      // The upstream stops sending validators: every source answers 200 with the bytes it sent last.
      await upstream.child.ask({ validators: false });
      // Unmeasured, both sides settled on these bytes first: ours records the digest of the sources
      // that have only answered 304 since they were last parsed, the floor remembers every body's.
      await runOurPass(instance, 'settle');
      await primeDigests(instance);
      const floorsSame: PassFigures[] = [];
      const oursSames: PassFigures[] = [];
      for (let round = 0; round < 3; round++) {
        floorsSame.push(
          await runFloorPass(instance, 'floor, all 200 with the same bytes, no validators (median of 3)', { sameBytes: true }),
        );
        oursSames.push(await runOurPass(instance, 'refreshBatch, all 200 with the same bytes, no validators (median of 3)'));
      }
      await upstream.child.ask({ validators: true });
      floorSame = medianPass(floorsSame);
      oursSame = medianPass(oursSames);
      bytesOnDisk = storeBytes(instance.dir);
    } finally {
      await instance.close();
    }

    const small = await prepareRefreshInstance(upstream, smallCount);
    let floorSmall: PassFigures, oursSmall: PassFigures, floorFeeds: PassFigures, oursFeeds: PassFigures;
    try {
      await upstream.child.ask({ generation: ++generation });
      floorSmall = await runFloorPass(small.instance, 'floor, 80% 200 + 20% 304');
      oursSmall = await runOurPass(small.instance, 'refreshBatch, 80% 200 + 20% 304');
      // Every source in a published feed (10 sources a feed): each change re-renders its feed.
      const userId = (await small.instance.deps.registry.listUsers())[0]!.id;
      const ids = small.sources.map((source) => source.id);
      for (let start = 0; start < ids.length; start += 10) await addFeed(small.instance.deps, userId, ids.slice(start, start + 10));
      await upstream.child.ask({ generation: ++generation });
      floorFeeds = await runFloorPass(small.instance, 'floor (same requests as below)');
      oursFeeds = await runOurPass(small.instance, 'refreshBatch, sources in feeds of 10');
    } finally {
      await small.instance.close();
    }

    const sizes = upstream.ready.templates.map((template) => template.bytes);
    const table: Table = {
      title: `Refresh pass — ${upstream.ready.hostPorts.length} upstream hosts, concurrency 8 (per host 2)`,
      columns: ['pass', 'sources', 'wall s', 'sources/s', 'CPU ms/source', '÷ floor (CPU)', '÷ floor (time)', 'outcomes'],
      rows: [
        passRow(warm),
        passRow(floor),
        passRow(ours, floor),
        passRow(floor304),
        passRow(ours304, floor304),
        passRow(floorSame),
        passRow(oursSame, floorSame),
        passRow(small.warm),
        passRow(floorSmall),
        passRow(oursSmall, floorSmall),
        passRow(floorFeeds),
        passRow(oursFeeds, floorFeeds),
      ],
      notes: [
        `targets (issue 14): CPU a source ≤ 1.5 × floor for changed documents, ≤ 2 × for 304 answers, ≤ 2 × in feeds of 10; this run ${(ours.cpuMs / floor.cpuMs).toFixed(2)} (${count} sources), 304 path ${(ours304.cpuMs / floor304.cpuMs).toFixed(2)}, in feeds ${(oursFeeds.cpuMs / floorFeeds.cpuMs).toFixed(2)}`,
        `an upstream without validators sending the same bytes again (not a target): CPU ÷ floor ${(oursSame.cpuMs / floorSame.cpuMs).toFixed(2)} (${(oursSame.cpuMs / oursSame.sources).toFixed(3)} against ${(floorSame.cpuMs / floorSame.sources).toFixed(3)} ms a source; the floor notices the same digest, as ours does)`,
        `time ÷ floor: ${(ours.wallMs / floor.wallMs).toFixed(2)}, 304 path ${(ours304.wallMs / floor304.wallMs).toFixed(2)}, in feeds ${(oursFeeds.wallMs / floorFeeds.wallMs).toFixed(2)}; load average at the end ${loadavg()
          .map((load) => load.toFixed(2))
          .join(' ')} on ${cpus().length} CPUs`,
        `upstream bodies ${Math.min(...sizes)}–${Math.max(...sizes)} bytes, 10–100 entries, RSS/Atom/RDF/JSON, served by a separate process; CPU is this process only (SQLite's thread pool included)`,
        `store after the ${count}-source passes: ${(bytesOnDisk / 2 ** 20).toFixed(1)} MiB`,
      ],
    };
    printTable(table);
    const perSecond = (pass: PassFigures) => (pass.sources / pass.wallMs) * 1000;
    return benchResult('refresh', options, startedAt, [table], {
      sources: count,
      oursPerSecond: perSecond(ours),
      floorPerSecond: perSecond(floor),
      ratio: ours.wallMs / floor.wallMs,
      oursCpuMsPerSource: ours.cpuMs / ours.sources,
      floorCpuMsPerSource: floor.cpuMs / floor.sources,
      ratio304: ours304.wallMs / floor304.wallMs,
      ours304PerSecond: perSecond(ours304),
      ours304CpuMsPerSource: ours304.cpuMs / ours304.sources,
      floor304CpuMsPerSource: floor304.cpuMs / floor304.sources,
      sameBytesCpuMsPerSource: oursSame.cpuMs / oursSame.sources,
      floorSameBytesCpuMsPerSource: floorSame.cpuMs / floorSame.sources,
      cpuRatioSameBytes: oursSame.cpuMs / floorSame.cpuMs,
      smallSources: smallCount,
      smallPerSecond: perSecond(oursSmall),
      smallRatio: oursSmall.wallMs / floorSmall.wallMs,
      smallCpuMsPerSource: oursSmall.cpuMs / oursSmall.sources,
      ratioWithFeeds: oursFeeds.wallMs / floorFeeds.wallMs,
      cpuRatio: ours.cpuMs / floor.cpuMs,
      cpuRatio304: ours304.cpuMs / floor304.cpuMs,
      cpuRatioWithFeeds: oursFeeds.cpuMs / floorFeeds.cpuMs,
      withFeedsFloorCpuMsPerSource: floorFeeds.cpuMs / floorFeeds.sources,
      withFeedsPerSecond: perSecond(oursFeeds),
      withFeedsCpuMsPerSource: oursFeeds.cpuMs / oursFeeds.sources,
    });
  } finally {
    await upstream.child.stop();
  }
}
