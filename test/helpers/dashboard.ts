// Signing in to the dashboard as a browser does (the sign-in form's CSRF token, then the post).
import { expect } from 'vitest';
import type { TestApp } from './app.js';

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The signed-in session's cookie (`name=value`) for the user of `apiKey`. */
export async function signIn(t: TestApp, apiKey: string): Promise<string> {
  const form = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
  const anonymous = String(form.headers['set-cookie']).split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
  const signedIn = await t.app.inject({
    method: 'POST',
    url: '/dashboard/sign-in',
    headers: { ...FORM, cookie: anonymous },
    payload: new URLSearchParams({ _csrf: csrf, apiKey }).toString(),
  });
  expect(signedIn.statusCode).toBe(303);
  return String(signedIn.headers['set-cookie']).split(';')[0]!;
}
