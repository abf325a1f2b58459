// OAuth 1.0a providers as the client needs them, and the `{placeholder}` filling that carries
// provider quirks (Netflix: `{application_name}` on the authorize URL, `{user_id}` in API paths).
import { OAuthError } from '../errors.js';
import { encodeRfc3986, type SignatureMethod } from '../vault/oauth1.js';

export interface OAuthProviderConfig {
  /** Provider id from the config file (`providers.<id>`). */
  id: string;
  requestTokenUrl: string;
  authorizeUrl: string;
  accessTokenUrl: string;
  consumerKey: string;
  consumerSecret: string;
  signatureMethod?: SignatureMethod;
  /** PEM private key, for RSA-SHA1. */
  privateKeyPem?: string;
  /** Extra query parameters on the authorize URL; values may hold placeholders. */
  authorizeParams?: Record<string, string>;
  /** Discovery resource listing the user's feeds; may hold placeholders such as `{user_id}`. */
  feedsUrl?: string;
  /** Added to the query of every signed resource call (e.g. `output=atom`). */
  extraParams?: Record<string, string>;
}

/** The provider part of the config file (src/config.ts ProviderConfig), structurally. */
export interface ProviderSettings {
  requestTokenUrl: string;
  authorizeUrl: string;
  accessTokenUrl: string;
  consumerKey: string;
  consumerSecret: string;
  signatureMethod?: SignatureMethod;
  authorizeParams?: Record<string, string>;
  feedsUrl?: string;
  extraParams?: Record<string, string>;
}

/** Builds the client's view of a configured provider; the caller reads `privateKeyFile` if any. */
export function createProviderConfig(id: string, settings: ProviderSettings, privateKeyPem?: string): OAuthProviderConfig {
  const provider: OAuthProviderConfig = {
    id,
    requestTokenUrl: settings.requestTokenUrl,
    authorizeUrl: settings.authorizeUrl,
    accessTokenUrl: settings.accessTokenUrl,
    consumerKey: settings.consumerKey,
    consumerSecret: settings.consumerSecret,
    signatureMethod: settings.signatureMethod ?? 'HMAC-SHA1',
    authorizeParams: { ...settings.authorizeParams },
    extraParams: { ...settings.extraParams },
  };
  if (settings.feedsUrl !== undefined) provider.feedsUrl = settings.feedsUrl;
  if (privateKeyPem !== undefined) provider.privateKeyPem = privateKeyPem;
  if (provider.signatureMethod === 'RSA-SHA1' && !provider.privateKeyPem) {
    throw new OAuthError(`provider ${id} uses RSA-SHA1 but has no private key`);
  }
  return provider;
}

/** Values a provider's templates may name: the consumer key plus every non-secret field we hold. */
export function placeholderValues(provider: OAuthProviderConfig, fields: Record<string, string> = {}): Record<string, string> {
  // The consumer secret is deliberately not offered: a template must never put it in a URL.
  return { ...fields, consumerKey: provider.consumerKey, oauth_consumer_key: provider.consumerKey };
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * Replaces every `{name}` in `template` with `values[name]`. In `url` mode (the default) values are
 * percent-encoded (RFC 3986), since they land in a path or query; in `text` mode they are left as
 * they are, for values that are encoded later (authorize parameters). An unknown placeholder is an
 * error naming it, never an empty string that would produce a wrong URL silently.
 */
export function fillPlaceholders(template: string, values: Record<string, string>, mode: 'url' | 'text' = 'url'): string {
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (value === undefined) throw new OAuthError(`unknown placeholder {${name}}`);
    return mode === 'url' ? encodeRfc3986(value) : value;
  });
}
