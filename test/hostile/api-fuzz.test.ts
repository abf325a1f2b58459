// Issue 7, API bad input: every route the OpenAPI document lists (so a new route is fuzzed without
// editing this file), with wrong types, missing and unknown fields, invalid JSON, bodies over the
// 1 MiB limit, odd numbers, odd unicode, traversal in ids and broken auth headers. Never a 5xx,
// never a stack trace; what must be refused is a 4xx JSON {error, message}.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../helpers/app.js';
import { expectSafeErrorBody, startHostileApp, type HostileApp } from './harness.js';

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
interface Route {
  method: Method;
  path: string;
  bodyProperties?: Record<string, { type?: string }>;
}

const IDS = [
  '..%2F..%2Fetc%2Fpasswd',
  '..%252F..%252Fetc%252Fpasswd',
  // ('%2E%2E' is left out: the test client itself resolves it as a dot segment, to another route.)
  '..;',
  '%00',
  'a%00b',
  '%C0%AE%C0%AE',
  '%E2%80%AE',
  '%F0%9F%92%A9',
  '%ED%A0%80',
  'x'.repeat(65),
  'x'.repeat(5000),
  '-1',
  '1e999',
  'null',
  '__proto__',
  'constructor',
  '%7B%22%24gt%22%3A%22%22%7D',
];

/** Values no schema coerces into a string, number or list of strings. */
const WRONG_TYPES: unknown[] = [{}, { $gt: '' }, [[]], [{}], { length: 1e9 }];
const ODD_NUMBERS: unknown[] = [-1, 0, -0, 1.5, 2 ** 53 + 1, 1e308, -1e308, '1e999', 'NaN', 'Infinity', '0x10', ' 5 ', ''];
const ODD_STRINGS: string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\u202egnp.exe',
  '\u200b\u200c\u200d\ufeff',
  'e\u0301\u0301\u0301\u0301',
  '𝕳𝖊𝖑𝖑𝖔',
  '\u0085\u2028\u2029',
  '../../../../etc/passwd',
  '%s%s%s%n',
  '${jndi:ldap://127.0.0.1:1/a}',
  '<script>alert(1)</script>',
  'x'.repeat(100_000),
];
const INVALID_JSON = ['{', '{"a":', '[1,2', 'nul', "{'a':1}", '{"a":1,}', '\u0000', '{"a":"\\ud800"', '{"__proto__":', '1 2'];

/** Percent-encodes like encodeURIComponent; a lone surrogate becomes the bytes a sloppy client would send. */
const encode = (value: string) => {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
};

const isBodyMethod = (method: Method) => method === 'POST' || method === 'PATCH' || method === 'PUT';

describe('API bad input', () => {
  let t: HostileApp;
  let key: string;
  let routes: Route[] = [];
  let inputs = 0;

  beforeAll(async () => {
    // The fuzzer is one client sending thousands of requests: lift the per-key rate limit.
    t = await startHostileApp(
      {},
      { env: { FEEDPROXY_API_RATE_LIMIT: '1000000', FEEDPROXY_PUBLIC_RATE_LIMIT: '1000000', FEEDPROXY_WRONG_KEY_RATE_LIMIT: '1000000' } },
    );
    key = await t.createUserKey();
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Route['bodyProperties'] } }> } }>
      >;
    };
    routes = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({
        method: method.toUpperCase() as Method,
        path,
        bodyProperties: operation.requestBody?.content?.['application/json']?.schema?.properties,
      })),
    );
  });
  afterAll(async () => {
    await t?.close();
    console.info(`api-fuzz: ${inputs} inputs over ${routes.length} routes`);
  });

  /** Sends one input; never a 5xx, never a stack; a 4xx is coded JSON (HTML pages excepted). */
  async function send(route: Route, options: { url?: string; payload?: unknown; raw?: string; headers?: Record<string, string> }) {
    inputs += 1;
    const url = options.url ?? route.path.replace('{id}', 'nope').replace('{file}', 'nope.atom');
    const authorization = route.path === '/api/v1/users' ? `Bearer ${ADMIN_TOKEN}` : `Bearer ${key}`;
    const response = await t.app.inject({
      method: route.method,
      url,
      headers: { authorization, ...(options.raw !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      ...(options.raw !== undefined
        ? { payload: options.raw }
        : options.payload !== undefined
          ? { payload: options.payload as object }
          : {}),
    });
    const label = `${route.method} ${url.slice(0, 120)} ${JSON.stringify(options.payload ?? options.raw ?? '').slice(0, 120)}`;
    expect(response.statusCode, label).toBeLessThan(500);
    expect(response.body, label).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    if (response.statusCode >= 400 && !String(response.headers['content-type']).startsWith('text/html')) expectSafeErrorBody(response.body);
    return response;
  }

  it('refuses traversal and odd ids in every path parameter with a 4xx', async () => {
    for (const route of routes.filter((candidate) => candidate.path.includes('{'))) {
      for (const id of IDS) {
        const url = route.path.replace(/\{(id|file)\}/, route.path.includes('{file}') ? `${id}.atom` : id);
        const response = await send(route, { url, ...(isBodyMethod(route.method) ? { payload: {} } : {}) });
        expect(response.statusCode, `${route.method} ${url}`).toBeGreaterThanOrEqual(400);
      }
    }
  });

  it('refuses invalid JSON, bodies over 1 MiB and non-JSON media types on every body route', async () => {
    for (const route of routes.filter((candidate) => isBodyMethod(candidate.method))) {
      for (const raw of INVALID_JSON) {
        const response = await send(route, { raw });
        expect(response.statusCode, `${route.path} ${raw}`).toBe(400);
      }
      const huge = await send(route, { raw: JSON.stringify({ title: 'x'.repeat(1024 * 1024 + 10) }) });
      expect([huge.statusCode, huge.json().error]).toEqual([413, 'FP_PAYLOAD_TOO_LARGE']);
      const xml = await send(route, { payload: '<title>x</title>', headers: { 'content-type': 'application/xml' } });
      // OPML import is the one route that takes XML: there the document is refused for what it is.
      if (route.path === '/api/v1/opml') expect([xml.statusCode, xml.json().error]).toEqual([400, 'FP_BAD_REQUEST']);
      else expect([xml.statusCode, xml.json().error]).toEqual([415, 'FP_UNSUPPORTED_MEDIA_TYPE']);
      // Fastify parses text/plain as a string, which no body schema accepts.
      const text = await send(route, { payload: 'title=x', headers: { 'content-type': 'text/plain' } });
      expect(text.statusCode).toBe(route.bodyProperties ? 400 : text.statusCode);
    }
  });

  it('refuses wrong types, unknown fields and non-object bodies where a body schema exists', async () => {
    for (const route of routes.filter((candidate) => candidate.bodyProperties !== undefined)) {
      for (const field of Object.keys(route.bodyProperties!)) {
        // An empty object is a valid value of an object field whose properties are all optional.
        const wrongTypes =
          route.bodyProperties![field]!.type === 'object' ? WRONG_TYPES.filter((wrong) => JSON.stringify(wrong) !== '{}') : WRONG_TYPES;
        for (const wrong of wrongTypes) {
          const response = await send(route, { payload: { [field]: wrong } });
          expect(response.statusCode, `${route.path} ${field}=${JSON.stringify(wrong)}`).toBe(400);
        }
      }
      for (const body of [
        { evil: 1 },
        { __proto__: { admin: true }, constructor: { prototype: { admin: true } } },
        [],
        ['a'],
        'text',
        42,
        null,
        true,
      ]) {
        const response = await send(route, { raw: JSON.stringify(body) });
        expect(response.statusCode, `${route.path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      }
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('never fails on odd numbers or odd unicode in any field or query', async () => {
    for (const route of routes) {
      for (const value of [...ODD_NUMBERS, ...ODD_STRINGS]) {
        const query = `?limit=${encode(String(value))}&oauth_token=${encode(String(value))}&extra[]=${encode(String(value))}`;
        await send(route, { url: route.path.replace('{id}', 'nope').replace('{file}', 'nope.atom') + query });
        if (route.bodyProperties) for (const field of Object.keys(route.bodyProperties)) await send(route, { payload: { [field]: value } });
      }
    }
  });

  it('answers broken Authorization headers with a coded 401', async () => {
    const broken = [
      '',
      'Bearer',
      'Bearer ',
      'Basic YTpi',
      `Bearer ${key} extra`,
      `bearer ${'x'.repeat(10_000)}`,
      'Bearer \u0000',
      `Bearer ${key.slice(0, -1)}`,
      `Bearer ${ADMIN_TOKEN}`,
    ];
    for (const route of routes.filter((candidate) => candidate.path.startsWith('/api/v1/') && candidate.path !== '/api/v1/users')) {
      for (const authorization of broken) {
        const response = await send(route, { headers: { authorization } });
        expect([response.statusCode, response.json().error], `${route.path} ${authorization.slice(0, 20)}`).toEqual([
          401,
          'FP_UNAUTHORIZED',
        ]);
      }
    }
    expect(inputs).toBeGreaterThan(1000);
  });
});
