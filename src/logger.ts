// pino, with redaction as the last line of defence: code logs source ids and hosts, never URLs
// with their query, but a header or a secret field that slips into a log object is censored here.
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.apiKey',
  '*.urlSealed',
  '*.secretsSealed',
  '*.secret',
  '*.token',
  '*.password',
  '*.consumerSecret',
  '*.accessToken',
  '*.accessSecret',
  '*.verifier',
  'apiKey',
  'url',
  'secret',
  'token',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Request URLs are logged without their query: public feed tokens live in the path, OAuth
      // callbacks carry tokens in the query.
      serializers: {
        // Our code logs errors as plain `{ type, message }` objects, already cleared of secrets: pino's
        // default `err` serializer would rename their type to the object's constructor ("Object").
        // A real Error (a library's) still goes through it.
        err: (err: unknown) => (err instanceof Error ? pino.stdSerializers.err(err) : err),
        req(request: { method?: string; url?: string; id?: string }) {
          return { method: request.method, url: pathOnly(request.url), id: request.id };
        },
      },
    },
    destination,
  );
}

/** A request path safe to log: no query, and public tokens (feeds, feed pages) shortened. */
export function pathOnly(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const path = url.split('?')[0] ?? '';
  return (
    path
      .replace(/^\/([A-Za-z0-9_-]{6})[A-Za-z0-9_-]{10,}(\.(atom|rss|json))$/, '/$1…$2')
      // A feed page's 404s (a token with an extension or a trailing slash) are shortened too.
      .replace(/^\/f\/([A-Za-z0-9_-]{6})[A-Za-z0-9_-]{10,}([./].*)?$/, '/f/$1…')
  );
}
