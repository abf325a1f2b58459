// The real service in its own process, for benches that measure it whole: `feedproxy serve` (HTTP
// app, scheduler, WebSub delivery loop) as built — dist/, plain `node`, as `npm start`, the bin and
// the Docker image run it; under tsx its loader thread alone added ~45 MiB of RSS — configured by
// the FEEDPROXY_* / LOG_LEVEL variables the parent passes, on a free loopback port it picks first.
// Tells the parent its port and pid once it listens; the parent reads its memory from /proc and
// stops it with SIGTERM (a graceful stop). Asked `{memory: true}`, it answers where its memory is;
// asked `{busy: true}`, how busy it has been.
// Plain JavaScript so that no loader runs in the measured process; the parent builds dist/ first.
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { loadConfig } from '../dist/config.js';
import { serve } from '../dist/server.js';

const port = await new Promise((resolve, reject) => {
  const probe = createServer();
  probe.once('error', reject).listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
await serve(loadConfig({ ...process.env, PORT: String(port), HOST: '127.0.0.1' }));
// Not answerParent (bench/lib/child.ts): its SIGTERM handler would exit before serve()'s graceful close.
// Asked `{busy: true}`, it answers how busy its event loop was since the last such question (0–1):
// the parent's sign that the work it started (refreshes, then the feeds they rebuild) is over.
let sinceBusyAsked = performance.eventLoopUtilization();
process.on('message', (message) => {
  if (message.busy) {
    const utilization = performance.eventLoopUtilization(sinceBusyAsked).utilization;
    sinceBusyAsked = performance.eventLoopUtilization();
    process.send?.({ id: message.id, answer: { utilization } });
    return;
  }
  if (!message.memory) return;
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const { heap_size_limit: heapLimit, malloced_memory: malloced } = getHeapStatistics();
  // V8's young generation (new space and its large objects): 32 MiB at most on Node 20, 128 on Node 24 (diagnoses 5, session 12).
  const youngGeneration = getHeapSpaceStatistics()
    .filter((space) => space.space_name.startsWith('new_'))
    .reduce((total, space) => total + space.space_size, 0);
  process.send?.({ id: message.id, answer: { rss, heapTotal, heapUsed, external, arrayBuffers, heapLimit, malloced, youngGeneration } });
});
process.channel?.unref(); // the channel must not keep the process up after a graceful stop
process.send?.({ ready: { port, pid: process.pid } });
