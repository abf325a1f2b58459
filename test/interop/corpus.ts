// `npm run corpus -- DIR [--validate]`: the differential check of test/interop/differential.ts over
// any folder of feeds (public parser test suites, kept out of the repository). Prints each
// mismatch, then the figures per field; with --validate, the W3C validator's errors on every
// published Atom and RSS document (FEEDVALIDATOR names its checkout, default /work/tools/feedvalidator).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compareCorpus, feedFiles, formatFigures, validateAll } from './differential.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const validate = args.includes('--validate');
  const dir = args.find((arg) => !arg.startsWith('--'));
  if (dir === undefined || !existsSync(dir)) {
    console.error('usage: npm run corpus -- DIR [--validate]   (DIR: a folder of feed files, searched recursively)');
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
    console.log(formatFigures(figures, `corpus ${root}: ${files.length} files`));
    if (validate) {
      const validator = process.env.FEEDVALIDATOR ?? '/work/tools/feedvalidator';
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
