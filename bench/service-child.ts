// The real service in its own process, for benches that measure it whole: `feedproxy serve` (HTTP
// app, scheduler, WebSub delivery loop), configured by the FEEDPROXY_* / PORT / LOG_LEVEL variables
// the parent passes, on a free loopback port it picks first. Tells the parent its port and pid once
// it listens; the parent reads its memory from /proc and stops it with SIGTERM (a graceful stop).
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.js';
import { serve } from '../src/server.js';
import { tellReady } from './lib/child.js';

const port = await new Promise<number>((resolve, reject) => {
  const probe = createServer();
  probe.once('error', reject).listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address() as AddressInfo;
    probe.close(() => resolve(free));
  });
});
await serve(loadConfig({ ...process.env, PORT: String(port), HOST: '127.0.0.1' }));
tellReady({ port, pid: process.pid });
