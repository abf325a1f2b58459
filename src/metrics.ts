// Prometheus metrics; the only import of prom-client. One registry per app so tests can build
// several apps in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  // The event-loop delay histogram samples every 100 ms, not prom-client's 10 ms: at 10 ms its timer
  // alone kept an idle process at ~1% of a core (BENCHMARKS.md, 8.); a block of the loop still
  // shows in the sample that follows it.
  collectDefaultMetrics({ register: registry, prefix: 'feedproxy_', eventLoopMonitoringPrecision: 100 });
  // Requests are counted in plain maps (route → method → status) and handed to prom-client when it
  // is read: a labelled `inc` per request costs a noticeable share of a 304's time (BENCHMARKS.md,
  // bench 1b); nested maps, not one joined key, so counting allocates nothing.
  const pendingRequests = new Map<string, Map<string, Map<number, number>>>();
  // Plain numbers bumped per request, handed to prom-client when it is read (as above).
  const publicFeedReads = { memory: 0, store: 0 };
  return {
    registry,
    httpRequests: new Counter({
      name: 'feedproxy_http_requests_total',
      help: 'HTTP requests served, by route and status code',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
      collect() {
        for (const [route, methods] of pendingRequests) {
          for (const [method, statuses] of methods) {
            for (const [status, count] of statuses) if (count > 0) this.inc({ route, method, status }, count);
            // Zeroed, not deleted: the next scrape's counting finds its maps made.
            for (const status of statuses.keys()) statuses.set(status, 0);
          }
        }
      },
    }),
    /** Public feed answers by where their token and validators came from: memory (publish/published-cache.ts) or the store. */
    publicFeedReads,
    publicFeedReadsTotal: new Counter({
      name: 'feedproxy_public_feed_reads_total',
      help: 'Public feed requests by where their token and validators came from (memory or store)',
      labelNames: ['from'] as const,
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ from: 'memory' }, publicFeedReads.memory);
        this.inc({ from: 'store' }, publicFeedReads.store);
      },
    }),
    countHttpRequest(route: string, method: string, status: number): void {
      let methods = pendingRequests.get(route);
      if (methods === undefined) pendingRequests.set(route, (methods = new Map()));
      let statuses = methods.get(method);
      if (statuses === undefined) methods.set(method, (statuses = new Map()));
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    },
    refreshes: new Counter({
      name: 'feedproxy_refreshes_total',
      help: 'Source refreshes by outcome (updated, unchanged, failed, deferred) and error code',
      labelNames: ['outcome', 'error'] as const,
      registers: [registry],
    }),
    fetchDuration: new Histogram({
      name: 'feedproxy_fetch_duration_seconds',
      help: 'Upstream fetch duration, including redirects and body',
      labelNames: ['outcome'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    bytesFetched: new Counter({
      name: 'feedproxy_fetched_bytes_total',
      help: 'Decoded bytes received from upstreams',
      registers: [registry],
    }),
    feedRenders: new Counter({
      name: 'feedproxy_feed_renders_total',
      help: 'Published feeds rebuilt (all formats)',
      registers: [registry],
    }),
    feedMerges: new Counter({
      name: 'feedproxy_feed_merges_total',
      help: "Merges of a feed's entries on rebuild: incremental (the changed sources only) or full",
      labelNames: ['merge'] as const,
      registers: [registry],
    }),
    schedulerLag: new Gauge({
      name: 'feedproxy_scheduler_lag_seconds',
      help: 'How late the most overdue source was at the last scheduler tick',
      registers: [registry],
    }),
    sourcesByStatus: new Gauge({
      name: 'feedproxy_sources',
      help: 'Sources by status at the last scheduler tick',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    websubVerifications: new Counter({
      name: 'feedproxy_websub_verifications_total',
      help: 'WebSub verifications of intent by mode (subscribe, unsubscribe) and outcome (verified, refused, gone)',
      labelNames: ['mode', 'outcome'] as const,
      registers: [registry],
    }),
    websubDeliveries: new Counter({
      name: 'feedproxy_websub_deliveries_total',
      help: 'WebSub content deliveries by outcome (queued, delivered, unchanged, failed, dropped, busy: another instance holds it)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    async render(): Promise<{ body: string; contentType: string }> {
      // prom-client's event-loop histogram is reset on every scrape: a scrape before its next sample
      // (10 ms) reads NaN (printed "Nan") for the mean and deviation, and an empty histogram's
      // minimum (2^63 ns) for the minimum. No sample yet means no lag seen: report 0.
      const body = (await registry.metrics()).replace(/^(feedproxy_nodejs_eventloop_lag_\w+) (?:NaN|Nan|9223372036\.854776)$/gm, '$1 0');
      return { body, contentType: registry.contentType };
    },
  };
}
