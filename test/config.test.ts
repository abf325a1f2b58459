// Config: one schema for env + YAML, env wins, bad values name the variable.
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig } from '../src/config.js';
import { loadOrCreateSecretKey } from '../src/vault/secret-key.js';

const base = { FEEDPROXY_CONFIG: '' };

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      store: 'sqlite://data/feedproxy.sqlite',
      logLevel: 'info',
      dataDir: 'data',
    });
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
    expect(config.fetch).toMatchObject({ maxBodyBytes: 16 * 1024 * 1024, timeoutSeconds: 30, maxRedirects: 5 });
    expect(config.refresh).toMatchObject({ defaultMinutes: 30, concurrency: 8, perHostConcurrency: 2 });
    expect(config.memory).toEqual({ heapGrowthPercent: 50 });
    expect(Object.isFrozen(config) && Object.isFrozen(config.fetch)).toBe(true);
  });

  it('writes the public URL as links carry it: an internationalised host in ASCII, no trailing slash', () => {
    // The hub takes printable-ASCII topics only (websub/hub-request.ts): the self links we publish must be.
    expect(loadConfig({ ...base, FEEDPROXY_PUBLIC_URL: 'https://bücher.example/Ströme/' }).publicUrl).toBe(
      'https://xn--bcher-kva.example/Str%C3%B6me',
    );
    expect(loadConfig({ ...base, FEEDPROXY_PUBLIC_URL: 'https://feeds.example.org:443//' }).publicUrl).toBe('https://feeds.example.org');
  });

  it('reads LOG_LEVEL in any case, and takes an admin token of any length', () => {
    expect(loadConfig({ ...base, LOG_LEVEL: 'WARN' }).logLevel).toBe('warn');
    expect(loadConfig({ ...base, FEEDPROXY_ADMIN_TOKEN: 'admin' }).adminToken).toBe('admin');
  });

  it('lets the environment win over the YAML file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-config-'));
    const file = join(dir, 'feedproxy.yaml');
    writeFileSync(file, 'port: 9000\nhost: 0.0.0.0\nrefresh:\n  concurrency: 3\nallowPrivate: ["10.0.0.5:80"]\n');
    const config = loadConfig({ FEEDPROXY_CONFIG: file, PORT: '9100', FEEDPROXY_ALLOW_PRIVATE: '127.0.0.1:81, [::1]:82' });
    expect(config.port).toBe(9100);
    expect(config.host).toBe('0.0.0.0');
    expect(config.refresh.concurrency).toBe(3);
    expect(config.allowPrivate).toEqual(['127.0.0.1:81', '[::1]:82']);
    expect(config.configFile).toBe(file);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ FEEDPROXY_STORE: 'mysql://x' }, 'FEEDPROXY_STORE'],
    [{ FEEDPROXY_SECRET_KEY: 'too-short' }, 'FEEDPROXY_SECRET_KEY'],
    [{ FEEDPROXY_STORE: 'redis://127.0.0.1:6379' }, 'FEEDPROXY_SECRET_KEY'],
    [{ FEEDPROXY_PUBLIC_URL: 'feeds.example.org' }, 'FEEDPROXY_PUBLIC_URL'],
    [{ FEEDPROXY_PUBLIC_URL: 'https://feeds.example.org/?via=x' }, 'FEEDPROXY_PUBLIC_URL'],
    [{ FEEDPROXY_PUBLIC_URL: 'https://me:pw@feeds.example.org' }, 'FEEDPROXY_PUBLIC_URL'],
    [{ FEEDPROXY_ALLOW_PRIVATE: 'just-a-host' }, 'FEEDPROXY_ALLOW_PRIVATE'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ FEEDPROXY_HEAP_GROWTH_PERCENT: 'half' }, 'FEEDPROXY_HEAP_GROWTH_PERCENT'],
    [{ FEEDPROXY_CONFIG: '/nonexistent/feedproxy.yaml' }, 'FEEDPROXY_CONFIG'],
  ])('refuses %o naming %s', (env, variable) => {
    try {
      loadConfig({ ...base, ...env });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as Error).message.split('\n')).toHaveLength(1);
    }
  });

  it('never echoes a secret in an error or a dump', () => {
    const secret = 'not-base64-but-secret!';
    expect(() => loadConfig({ ...base, FEEDPROXY_SECRET_KEY: secret })).toThrow(ConfigError);
    try {
      loadConfig({ ...base, FEEDPROXY_SECRET_KEY: secret });
    } catch (error) {
      expect((error as Error).message).not.toContain(secret);
    }
    const key = Buffer.alloc(32, 7).toString('base64');
    const dump = JSON.stringify(
      redactConfig(loadConfig({ ...base, FEEDPROXY_SECRET_KEY: key, FEEDPROXY_ADMIN_TOKEN: 'admin-token-1234567890' })),
    );
    expect(dump).not.toContain(key);
    expect(dump).not.toContain('admin-token-1234567890');
    expect(dump).toContain('<redacted>');
  });

  it('reads secrets from *_FILE variables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-config-'));
    writeFileSync(join(dir, 'key'), `${'ab'.repeat(32)}\n`);
    expect(loadConfig({ ...base, FEEDPROXY_SECRET_KEY_FILE: join(dir, 'key') }).secretKey).toBe('ab'.repeat(32));
  });

  it('generates the embedded secret key once, mode 0600', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'feedproxy-key-')), 'data');
    const first = loadOrCreateSecretKey(dir);
    expect(first).toHaveLength(32);
    expect(statSync(join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSecretKey(dir).equals(first)).toBe(true);
  });
});

describe('trustProxy', () => {
  it('is off by default and reads booleans and address lists from the environment', () => {
    expect(loadConfig(base).trustProxy).toBe(false);
    expect(loadConfig({ ...base, FEEDPROXY_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ ...base, FEEDPROXY_TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy).toBe('10.0.0.0/8,127.0.0.1');
  });
});

describe('config/feedproxy.example.yaml', () => {
  it('is a valid configuration that states the defaults', () => {
    const file = new URL('../config/feedproxy.example.yaml', import.meta.url).pathname;
    const fromExample = loadConfig({ FEEDPROXY_CONFIG: file });
    const { configFile: _file, ...example } = fromExample;
    expect(example).toEqual(loadConfig(base));
  });
});
