// `npm run corpus -- DIR [--no-validate]`: the differential check of test/interop/differential.ts
// over any folder of feeds (public parser test suites, kept out of the repository). Prints each
// loss, each difference classified as the reference's reading (classify.ts) with its reason, then
// the figures per field, and the W3C validator's errors on every published Atom and RSS document
// when its checkout is there (FEEDVALIDATOR, default /tmp/fv; skipped, and said so, when absent).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compareCorpus, feedFiles, formatFigures, validateAll } from './differential.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const validator = process.env.FEEDVALIDATOR ?? '/tmp/fv';
  const validate = !args.includes('--no-validate') && existsSync(join(validator, 'src', 'demo.py'));
  const dir = args.find((arg) => !arg.startsWith('--'));
  if (dir === undefined || !existsSync(dir)) {
    console.error('usage: npm run corpus -- DIR [--no-validate]   (DIR: a folder of feed files, searched recursively)');
    process.exitCode = 2;
    return;
  }
  const root = resolve(dir);
  const files = feedFiles(root);
  const outputDir = mkdtempSync(join(tmpdir(), 'feedproxy-corpus-'));
  try {
    const figures = await compareCorpus(files, root, {
      outputDir,
      progress: (done, total) => {
        if (done % 100 === 0) process.stderr.write(`  ${done}/${total}\n`);
      },
    });
    for (const mismatch of figures.mismatches) {
      console.log(
        `MISMATCH ${mismatch.field} [${mismatch.format}] ${mismatch.feed}${mismatch.entry === undefined ? '' : ` «${mismatch.entry.slice(0, 80)}»`}`,
      );
      console.log(`    original: ${JSON.stringify(mismatch.expected)}`);
      console.log(`    output:   ${JSON.stringify(mismatch.actual)}`);
    }
    const reasons = new Map<string, number>();
    for (const difference of figures.classified) {
      console.log(`CLASSIFIED ${difference.field} [${difference.format}] ${difference.feed}: ${difference.reason}`);
      reasons.set(difference.reason!, (reasons.get(difference.reason!) ?? 0) + 1);
    }
    console.log(formatFigures(figures, `corpus ${root}: ${files.length} files`));
    for (const [reason, count] of reasons) console.log(`  classified ${String(count).padStart(4)}: ${reason}`);
    if (!validate) {
      console.log(`  W3C validator: skipped (${args.includes('--no-validate') ? '--no-validate' : `no checkout at ${validator}`})`);
    } else {
      const results = await validateAll(
        validator,
        figures.outputs.map((output) => output.path),
      );
      let errors = 0;
      for (const [index, messages] of results.entries()) {
        if (messages.length === 0) continue;
        errors += messages.length;
        const output = figures.outputs[index]!;
        console.log(`W3C [${output.format}] ${output.feed}:\n    ${messages.join('\n    ')}`);
      }
      console.log(
        `  W3C validator: ${errors} errors in ${results.filter((messages) => messages.length > 0).length} of ${results.length} published Atom/RSS documents`,
      );
    }
  } finally {
    if (!process.env.KEEP_CORPUS_OUTPUT) rmSync(outputDir, { recursive: true, force: true });
  }
}

await main();
