// Issue 15's differential test on the fixtures in test/fixtures/fidelity/ (one per construct readers
// meet): each served by a tokenised upstream, added as a source of the real app, published alone
// in Atom, RSS and JSON, and read back by Universal Feed Parser, entry by entry, against its
// reading of the original. `npm run corpus -- DIR` runs the same comparison over any folder.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELDS, compareCorpus, feedFiles, formatFigures, validateAll, type Figures } from './differential.js';
import { hasPythonModules } from './tools.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/fidelity/', import.meta.url));
const FEED_VALIDATOR = process.env.FEEDVALIDATOR ?? '/tmp/fv';
const hasFeedparser = hasPythonModules('feedparser');
const hasValidator = existsSync(join(FEED_VALIDATOR, 'src', 'demo.py')) && hasPythonModules('html5lib');

// .ci/run installs python3-feedparser: in CI a missing reader is a failure, not a skip.
const skip = !hasFeedparser && !process.env.CI;

describe.skipIf(skip)('published feeds carry what the originals carry (Universal Feed Parser; needs python3-feedparser)', () => {
  let figures: Figures;
  let outputDir: string | undefined;

  beforeAll(async () => {
    expect(hasFeedparser, 'python3-feedparser is not installed (.ci/run installs it)').toBe(true);
    outputDir = mkdtempSync(join(tmpdir(), 'feedproxy-fidelity-'));
    figures = await compareCorpus(feedFiles(FIXTURES), FIXTURES, { outputDir });
  }, 120_000);

  afterAll(() => {
    if (outputDir && !process.env.KEEP_INTEROP) rmSync(outputDir, { recursive: true, force: true });
  });

  it('accepts every fixture the reference reads entries from, none of them ok-and-empty', () => {
    expect(figures.readable).toBe(feedFiles(FIXTURES).length);
    expect(figures.refused).toEqual([]);
    expect(figures.okButEmpty).toBe(0);
  });

  it('keeps every entry, title, link, date, author, enclosure and text in Atom, RSS and JSON', () => {
    const report = `${formatFigures(figures, 'fixtures')}\n${figures.mismatches.map((mismatch) => JSON.stringify(mismatch)).join('\n')}`;
    expect(figures.mismatches, report).toEqual([]);
    // Each field was compared at all: a check that counts nothing proves nothing.
    for (const field of FIELDS) expect(figures.fields[field].cases, field).toBeGreaterThan(0);
  });

  it.skipIf(!hasValidator)(
    'publishes Atom and RSS the W3C validator finds no error in (FEEDVALIDATOR names its checkout)',
    async () => {
      const results = await validateAll(
        FEED_VALIDATOR,
        figures.outputs.map((output) => output.path),
      );
      const errors = results.flatMap((messages, index) =>
        messages.map((message) => `${figures.outputs[index]!.feed} [${figures.outputs[index]!.format}]: ${message}`),
      );
      expect(errors).toEqual([]);
    },
    120_000,
  );
});
