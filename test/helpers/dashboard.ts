// Signing in to the dashboard as a browser does (the sign-in form's CSRF token, then the post).
import { expect } from 'vitest';
import type { TestApp } from './app.js';

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The sign-in form posted as a browser posts it: the answer, whatever it is (a wrong key too). */
export async function postSignIn(t: TestApp, apiKey: string) {
  const form = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
  const anonymous = String(form.headers['set-cookie']).split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
  return t.app.inject({
    method: 'POST',
    url: '/dashboard/sign-in',
    headers: { ...FORM, cookie: anonymous },
    payload: new URLSearchParams({ _csrf: csrf, apiKey }).toString(),
  });
}

/** The signed-in session's cookie (`name=value`) for the user of `apiKey`. */
export async function signIn(t: TestApp, apiKey: string): Promise<string> {
  const signedIn = await postSignIn(t, apiKey);
  expect(signedIn.statusCode).toBe(303);
  return String(signedIn.headers['set-cookie']).split(';')[0]!;
}
