// Secrets at rest: AES-256-GCM with a random 96-bit IV per value (NIST SP 800-38D §8.2.2).
// A sealed value is `v1.<iv>.<ciphertext+tag>` in base64url, so it can sit in any JSON record.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSecretKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Vault {
  seal(plaintext: string): string;
  open(sealed: string): string;
  /**
   * A keyed one-way digest (HMAC-SHA256 under a key derived from the vault key), for indexes whose
   * keys would otherwise hold a secret: whoever reads the store cannot confirm a guessed URL.
   */
  digest(text: string): string;
}

/**
 * Seals with `key`; opens with `key` or, during a key rotation, any of `previousKeys` (the GCM tag
 * tells which key a value was sealed with).
 */
export function createVault(key: Buffer, previousKeys: Buffer[] = []): Vault {
  for (const candidate of [key, ...previousKeys]) if (candidate.length !== 32) throw new Error('vault key must be 32 bytes');
  // Imported once as KeyObjects: from a Buffer, OpenSSL 3 (Node 22+) sets the key up again on every
  // call — 17 µs an open on Node 24 against 3 µs, 12 µs a digest against 2 (BENCHMARKS.md, bench 2, session 13).
  const sealKey = createSecretKey(key);
  const openKeys = [sealKey, ...previousKeys.map((candidate) => createSecretKey(candidate))];
  const openWith = (candidate: KeyObject, sealed: string): string => {
    const [version, ivText, bodyText] = sealed.split('.');
    if (version !== VERSION || !ivText || !bodyText) throw new Error('not a sealed value');
    const body = Buffer.from(bodyText, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', candidate, Buffer.from(ivText, 'base64url'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    // Throws when the key is wrong or the value was tampered with.
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  };
  // A key of its own (RFC 5869 HKDF): the encryption key is never used for anything but AES-GCM.
  const digestKey = createSecretKey(Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'feedproxy index digest v1', 32)));
  return {
    digest(text) {
      return createHmac('sha256', digestKey).update(text).digest('base64url');
    },
    seal(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${iv.toString('base64url')}.${ciphertext.toString('base64url')}`;
    },
    open(sealed) {
      let failure: unknown;
      for (const candidate of openKeys) {
        try {
          return openWith(candidate, sealed);
        } catch (error) {
          failure = error;
        }
      }
      throw failure;
    },
  };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** API keys are 256-bit random values, so a plain SHA-256 is a safe one-way index for them. */
export function hashApiKey(apiKey: string): string {
  return sha256Hex(apiKey);
}

export function generateApiKey(): string {
  return `fp_${randomBytes(32).toString('base64url')}`;
}

/**
 * Random URL-safe strings: public tokens (18 bytes by default) and record ids (9 bytes). The first character
 * is never `-` or `_`, so an id is safe as a command-line argument (`--user -abc…` reads as an option);
 * redrawing those 2 of 64 first characters costs under 0.05 bits.
 */
export function randomToken(bytes = 18): string {
  for (;;) {
    const token = randomBytes(bytes).toString('base64url');
    if (token[0] !== '-' && token[0] !== '_') return token;
  }
}

export function safeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}
