// The dashboard's two static files, read once at start and served with an ETag (no CDN, no build step).
// They live beside this file in src/; from dist/ they are found in dist/ when the build copied them,
// else in the source tree next to it (a checkout running `npm start`).
import { strongEtag } from '../../publish/strong-etag.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const TYPES: Record<string, string> = { 'dashboard.css': 'text/css; charset=utf-8', 'dashboard.js': 'text/javascript; charset=utf-8' };

function assetsDirectory(): string {
  const candidates = [new URL('./assets/', import.meta.url), new URL('../../../src/routes/dashboard/assets/', import.meta.url)].map((url) =>
    fileURLToPath(url),
  );
  const found = candidates.find((dir) => existsSync(`${dir}dashboard.css`));
  if (!found) throw new Error(`dashboard assets not found in ${candidates.join(' or ')}`);
  return found;
}

export function loadAssets(): Map<string, Asset> {
  const dir = assetsDirectory();
  const assets = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(TYPES)) {
    const body = readFileSync(`${dir}${name}`);
    assets.set(name, { body, contentType, etag: strongEtag(body) });
  }
  return assets;
}
