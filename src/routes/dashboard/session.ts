// The dashboard session: one cookie holding {API key, CSRF token, issued at} sealed with the vault
// (AES-256-GCM), so neither the browser's cookie store nor a proxy log ever holds the key in clear,
// and a tampered cookie fails to open. Stateless: any instance sharing the secret key can open it.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { safeEqual } from '../../vault/seal.js';

export const SESSION_COOKIE = 'fp_dashboard';
export const DASHBOARD_PATH = '/dashboard';
/** Set when a connection is started here, read by /oauth/callback to send the browser back. */
export const RETURN_COOKIE = 'fp_oauth_return';
const SESSION_DAYS = 7;
const DAY_MS = 86_400_000;

export interface DashboardSession {
  apiKey?: string;
  csrf: string;
}

interface SealedSession {
  k?: string;
  c: string;
  t: number;
}

/** The value of one cookie of a Cookie header (RFC 6265 §5.4: `name=value` pairs split by `; `). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

export function openSession(deps: Pick<Deps, 'vault' | 'now'>, request: FastifyRequest): DashboardSession | undefined {
  const sealed = readCookie(request.headers.cookie, SESSION_COOKIE);
  if (!sealed) return undefined;
  try {
    const session = JSON.parse(deps.vault.open(sealed)) as SealedSession;
    if (typeof session.c !== 'string' || typeof session.t !== 'number') return undefined;
    if (deps.now().getTime() - session.t > SESSION_DAYS * DAY_MS) return undefined;
    return { csrf: session.c, ...(typeof session.k === 'string' ? { apiKey: session.k } : {}) };
  } catch {
    return undefined; // sealed under another key, tampered with, or not ours: start over
  }
}

/** A new session (a new CSRF token each time: signing in or out never reuses the old one). */
export function writeSession(deps: Pick<Deps, 'vault' | 'now' | 'config'>, reply: FastifyReply, apiKey?: string): DashboardSession {
  const session: DashboardSession = { csrf: randomBytes(24).toString('base64url'), ...(apiKey ? { apiKey } : {}) };
  const sealed: SealedSession = { c: session.csrf, t: deps.now().getTime(), ...(apiKey ? { k: apiKey } : {}) };
  reply.header('set-cookie', cookieHeader(deps, SESSION_COOKIE, deps.vault.seal(JSON.stringify(sealed)), { path: DASHBOARD_PATH, maxAge: SESSION_DAYS * 86_400, sameSite: 'Strict' }));
  return session;
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
  const secure = deps.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${name}=${value}; Path=${options.path}; Max-Age=${options.maxAge}; HttpOnly; SameSite=${options.sameSite}${secure}`;
}
