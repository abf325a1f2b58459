// FEEDPROXY_METRICS_TOKEN on a worker: its probe server (node:http, not the app) asks for the token on
// /metrics like the app does, and leaves /healthz and /readyz open. A real `serve --role worker`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_ARGS, ROOT, freePort, waitReady } from '../helpers/cli.js';

const TOKEN = 'worker-metrics-token-8Hq2Zt';

describe('a worker with FEEDPROXY_METRICS_TOKEN', () => {
  const dir = mkdtempSync(join(tmpdir(), 'feedproxy-metrics-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('asks for the token on /metrics only', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
      FEEDPROXY_CONFIG: '',
      FEEDPROXY_METRICS_TOKEN: TOKEN,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };
    const child = spawn(process.execPath, [...CLI_ARGS, 'serve', '--role', 'worker'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    try {
      await waitReady(base);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const refused = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer nope' } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect(await refused.json()).toEqual({
        statusCode: 401,
        error: 'FP_UNAUTHORIZED',
        message: 'GET /metrics needs Authorization: Bearer <FEEDPROXY_METRICS_TOKEN>',
      });
      const served = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(served.status).toBe(200);
      expect(await served.text()).toContain('feedproxy_refreshes_total');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
