// Issue 18, finding 6: a client that trickles its request a byte at a time must not hold its
// connection forever. Real sockets against the listening app, with timeouts configured short so the
// test stays short (the defaults are 30 s for headers and 120 s for the whole request).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

const TRICKLE_MS = 100;

describe('slow clients', () => {
  let t: TestApp;
  let port: number;
  const configDir = mkdtempSync(join(tmpdir(), 'feedproxy-slow-'));
  beforeAll(async () => {
    const configFile = join(configDir, 'feedproxy.yaml');
    writeFileSync(configFile, 'http:\n  headersTimeoutSeconds: 0.6\n  requestTimeoutSeconds: 1.2\n');
    t = await startTestApp({ env: { FEEDPROXY_CONFIG: configFile } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await t?.close();
    rmSync(configDir, { recursive: true, force: true });
  });

  /** Opens a socket, sends `head`, then one byte of `rest` every TRICKLE_MS until the server closes it. */
  function trickle(head: string, rest: string): Promise<{ sent: number; answer: string; socket: Socket }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('error', () => undefined); // a reset after the 408 is the server cutting us off
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ sent, answer, socket });
      });
      socket.on('connect', () => {
        socket.write(head);
        timer = setInterval(() => {
          if (sent >= rest.length) {
            clearInterval(timer);
            socket.destroy();
            reject(new Error('the server read the whole trickled request without cutting the client off'));
            return;
          }
          socket.write(rest[sent]!);
          sent += 1;
        }, TRICKLE_MS);
      });
    });
  }

  it('cuts off a client trickling a request body, with 408', async () => {
    // The hub reads its form body without asking for a key: anyone on the internet can do this.
    const body = new URLSearchParams({
      'hub.mode': 'subscribe',
      'hub.topic': 'http://feeds.test/x.atom',
      'hub.callback': `https://subscriber.example/${'x'.repeat(400)}`,
    }).toString();
    const head = `POST /websub HTTP/1.1\r\nHost: feeds.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { sent, answer } = await trickle(head, body);
    // The connection was open and taking bytes before it was cut: several trickled bytes got through.
    expect(sent).toBeGreaterThan(3);
    expect(sent).toBeLessThan(body.length);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('cuts off a client trickling its headers', async () => {
    const headers = `GET /healthz HTTP/1.1\r\nHost: feeds.test\r\nX-Padding: ${'y'.repeat(400)}\r\n\r\n`;
    const { sent, answer } = await trickle('G', headers.slice(1));
    expect(sent).toBeGreaterThan(2);
    expect(sent).toBeLessThan(headers.length - 1);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('still serves a request that arrives within the timeouts', async () => {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
  });
});
