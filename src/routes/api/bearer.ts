import { UnauthorizedError } from '../../errors.js';

/** The token of an `Authorization: Bearer …` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * RFC 6750 §3: a 401 names the scheme it wants; `invalid_token` only when a token was given. The
 * message says what was wrong with this request and what to do, one case each.
 */
export function unauthorized(header: string | undefined, what = 'API key'): Error {
  let message: string;
  let challenge = 'Bearer realm="feedproxy"';
  if (header === undefined || header.trim() === '') {
    message = `Missing ${what}: send the header "Authorization: Bearer <${what}>"`;
  } else if (!/^Bearer(\s|$)/i.test(header)) {
    message = `The Authorization header must use the Bearer scheme: "Authorization: Bearer <${what}>"`;
  } else if (bearerToken(header) === undefined) {
    message = `Empty ${what} after "Bearer": the variable holding it may be unset (feedproxy users list, then feedproxy users reset-key NAME prints a new key)`;
  } else {
    challenge += ', error="invalid_token"';
    message =
      what === 'API key'
        ? 'Missing or invalid API key: no user has this key; feedproxy users reset-key NAME prints a new one'
        : `Invalid ${what}: it is not the FEEDPROXY_ADMIN_TOKEN this service runs with`;
  }
  return Object.assign(new UnauthorizedError(), { message, wwwAuthenticate: challenge });
}
