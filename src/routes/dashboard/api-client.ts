// The dashboard's only way to the data: the public JSON API, called in-process with the user's key.
// What the API refuses, the dashboard shows as the API said it (its `message`).
import type { FastifyInstance } from 'fastify';

export interface ApiResult<T> {
  ok: boolean;
  status: number;
  body: T;
  /** The API's error message when !ok. */
  message: string;
}

/** The stored key no longer signs in (deleted user): the session is over. */
export class SignedOutError extends Error {}

export type CallApi = <T = Record<string, unknown>>(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: object,
) => Promise<ApiResult<T>>;

export function apiClient(app: FastifyInstance, apiKey: string, clientAddress: string): CallApi {
  return async <T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
    const response = await app.inject({
      method,
      url: `/api/v1${url}`,
      // The browser's address, so the API's per-address limits see the person, not this process.
      remoteAddress: clientAddress,
      headers: { authorization: `Bearer ${apiKey}` },
      ...(payload === undefined ? {} : { payload }),
    });
    if (response.statusCode === 401) throw new SignedOutError();
    const body = (response.body ? response.json() : null) as T;
    const ok = response.statusCode < 400;
    const message = ok ? '' : String((body as { message?: unknown } | null)?.message ?? `The API answered ${response.statusCode}`);
    return { ok, status: response.statusCode, body, message };
  };
}
