// The dashboard session: one cookie holding {API key, CSRF token, session id, issued at} sealed with
// the vault (AES-256-GCM), so neither the browser's cookie store nor a proxy log ever holds the key
// in clear, and a tampered cookie fails to open. Any instance sharing the secret key can open it;
// signing out writes the session id into its key's record of signed-out sessions in the shared store
// (one record per key, bounded: store/sessions.ts), which every instance checks, so a copied cookie
// stops working at once (issue 18).
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { hashApiKey, safeEqual } from '../../vault/seal.js';

export const SESSION_COOKIE = 'fp_dashboard';
/**
 * On https the cookie is `__Host-` prefixed: browsers then only accept it Secure, for Path=/ and
 * without Domain, so a sibling subdomain or a plain-http page cannot plant or shadow it.
 */
export const HOST_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
export const DASHBOARD_PATH = '/dashboard';
/** Set when a connection is started here, read by /oauth/callback to send the browser back. */
export const RETURN_COOKIE = 'fp_oauth_return';
const SESSION_DAYS = 7;
const DAY_MS = 86_400_000;

export interface DashboardSession {
  apiKey?: string;
  csrf: string;
  /** Signed-in sessions only: what a sign-out revokes. */
  id?: string;
  /** Epoch ms the session was issued. */
  issuedAt: number;
}

interface SealedSession {
  k?: string;
  c: string;
  /** Session id, with `k`. */
  s?: string;
  t: number;
}

type SessionDeps = Pick<Deps, 'vault' | 'now' | 'config' | 'registry'>;

/** The session cookie's name and path: `__Host-` and Path=/ behind https. */
function sessionCookie(deps: Pick<Deps, 'config'>): { name: string; path: string } {
  return isHttps(deps) ? { name: HOST_SESSION_COOKIE, path: '/' } : { name: SESSION_COOKIE, path: DASHBOARD_PATH };
}

function isHttps(deps: Pick<Deps, 'config'>): boolean {
  return deps.config.publicUrl.startsWith('https:');
}

/** The value of one cookie of a Cookie header (RFC 6265 §5.4: `name=value` pairs split by `; `). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

export async function openSession(deps: SessionDeps, request: FastifyRequest): Promise<DashboardSession | undefined> {
  const sealed = readCookie(request.headers.cookie, sessionCookie(deps).name);
  if (!sealed) return undefined;
  let session: SealedSession;
  try {
    session = JSON.parse(deps.vault.open(sealed)) as SealedSession;
  } catch {
    return undefined; // sealed under another key, tampered with, or not ours: start over
  }
  if (typeof session.c !== 'string' || typeof session.t !== 'number') return undefined;
  if (deps.now().getTime() - session.t > SESSION_DAYS * DAY_MS) return undefined;
  if (typeof session.k !== 'string') return { csrf: session.c, issuedAt: session.t };
  // A signed-in session without an id (sealed before sign-out could revoke) cannot be revoked: not honoured.
  if (typeof session.s !== 'string') return undefined;
  if (await deps.registry.sessions.isSignedOut(hashApiKey(session.k), session.s, session.t)) return undefined;
  return { csrf: session.c, apiKey: session.k, id: session.s, issuedAt: session.t };
}

/** A new session (a new CSRF token each time: signing in or out never reuses the old one). */
export function writeSession(deps: Pick<Deps, 'vault' | 'now' | 'config'>, reply: FastifyReply, apiKey?: string): DashboardSession {
  const issuedAt = deps.now().getTime();
  const session: DashboardSession = {
    csrf: randomBytes(24).toString('base64url'),
    issuedAt,
    ...(apiKey ? { apiKey, id: randomBytes(18).toString('base64url') } : {}),
  };
  const sealed: SealedSession = { c: session.csrf, t: issuedAt, ...(apiKey ? { k: apiKey, s: session.id } : {}) };
  const { name, path } = sessionCookie(deps);
  reply.header(
    'set-cookie',
    cookieHeader(deps, name, deps.vault.seal(JSON.stringify(sealed)), { path, maxAge: SESSION_DAYS * 86_400, sameSite: 'Strict' }),
  );
  return session;
}

/**
 * Signing out: the session id is kept in the store, in its API key's one record of signed-out
 * sessions (store/sessions.ts), for as long as the cookie could still be presented, so a copy of it
 * (another tab, a stolen cookie) is refused by every instance.
 */
export async function revokeSession(deps: SessionDeps, session: DashboardSession | undefined): Promise<void> {
  if (session?.id === undefined || session.apiKey === undefined) return;
  const now = deps.now().getTime();
  if (session.issuedAt + SESSION_DAYS * DAY_MS - now > 0)
    await deps.registry.sessions.signOut(hashApiKey(session.apiKey), session.id, session.issuedAt, now, SESSION_DAYS * DAY_MS);
}

/** The header that makes the browser drop its session cookie. */
export function clearSessionCookie(deps: Pick<Deps, 'config'>): string {
  const { name, path } = sessionCookie(deps);
  return cookieHeader(deps, name, '', { path, maxAge: 0, sameSite: 'Strict' });
}

export function csrfMatches(session: DashboardSession | undefined, token: unknown): boolean {
  return session !== undefined && typeof token === 'string' && token.length > 0 && safeEqual(token, session.csrf);
}

export function cookieHeader(
  deps: Pick<Deps, 'config'>,
  name: string,
  value: string,
  options: { path: string; maxAge: number; sameSite: 'Strict' | 'Lax' },
): string {
  const secure = isHttps(deps) ? '; Secure' : '';
  return `${name}=${value}; Path=${options.path}; Max-Age=${options.maxAge}; HttpOnly; SameSite=${options.sameSite}${secure}`;
}
