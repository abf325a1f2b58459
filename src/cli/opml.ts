// `feedproxy opml import FILE --user ID | export --user ID`: OPML without a running server.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { isCodedError } from '../errors.js';
import { exportOpml } from '../opml/export-opml.js';
import { importOpml } from '../opml/import-opml.js';
import { decodeBody } from '../parse/index.js';
import { openDeps } from './open-deps.js';

const OPML_USAGE = 'usage: feedproxy opml import FILE --user ID | feedproxy opml export --user ID';
/** The API's bound on an OPML body, kept for files too. */
const MAX_OPML_FILE_BYTES = 1024 * 1024;

/** `opml import` prints one line per outline and a summary; `opml export` prints the document. */
export async function opml(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { user: { type: 'string' } }, allowPositionals: true });
  } catch (error) {
    console.error(`feedproxy: ${(error as Error).message}\n${OPML_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  const valid = values.user && (action === 'import' ? positionals.length === 1 : action === 'export' && positionals.length === 0);
  if (!valid) {
    console.error(OPML_USAGE);
    return 2;
  }
  let text: string | undefined;
  if (action === 'import') {
    try {
      if (statSync(file!).size > MAX_OPML_FILE_BYTES) throw new Error(`larger than ${MAX_OPML_FILE_BYTES} bytes (1 MiB)`);
      text = decodeBody(readFileSync(file!));
    } catch (error) {
      console.error(`feedproxy: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return 2;
    }
  }
  const deps = await openDeps(config);
  try {
    const userId = values.user!;
    if (!(await deps.registry.getUser(userId))) {
      console.error(`feedproxy: no user with id ${userId}`);
      return 2;
    }
    if (text === undefined) {
      process.stdout.write(await exportOpml(deps, userId));
      return 0;
    }
    let report;
    try {
      report = await importOpml(deps, userId, text);
    } catch (error) {
      if (!isCodedError(error)) throw error;
      console.error(`feedproxy: ${file}: ${error.message}`);
      return 2;
    }
    for (const outline of report.outlines) {
      const where = outline.category ? `  [${outline.category}]` : '';
      const detail = outline.error ? `: ${outline.error.message}` : '';
      console.log(`${outline.result.padEnd(9)} ${outline.sourceId ?? '-'}  ${outline.title}  ${outline.url}${where}${detail}`);
    }
    for (const feed of report.feeds) console.log(`feed      ${feed.id}  ${feed.title}`);
    for (const failure of report.feedErrors) console.log(`feed failed  ${failure.title}: ${failure.error.message}`);
    const { added, duplicate, failed } = report.summary;
    const feeds = report.feeds.length;
    console.log(`added ${added}, duplicate ${duplicate}, failed ${failed}; ${feeds} category feed${feeds === 1 ? '' : 's'}`);
    return failed > 0 && failed === report.outlines.length ? 1 : 0;
  } finally {
    await deps.close();
  }
}
