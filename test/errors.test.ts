// The error catalogue holds together, as fastify tests its own (test/internals/errors.test.js):
// every FP_ code is created once in src/errors.ts with one HTTP status, nothing else in src/ spells
// a code as a string, and docs/errors.md lists each code with that status, its meaning and what to
// do. A failure lists every problem at once, each saying what to add where.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const ERRORS_FILE = 'src/errors.ts';
const DOCS_FILE = 'docs/errors.md';
const CODE = /FP_[A-Z0-9_]*[A-Z0-9]/g;
const QUOTED_CODE = /(['"`])(FP_[A-Z0-9_]*[A-Z0-9])\1/g;
const HOW_TO_DEFINE = `define it once in ${ERRORS_FILE} (export const SomethingError = coded('FP_SOMETHING', 'message', status)) and use SomethingError, or SomethingError.code where only the code is needed`;

/** Every error constructor src/errors.ts exports: its export name, code and status, read from an instance. */
function catalogue(): Array<{ name: string; code: string; statusCode: number | undefined }> {
  return Object.entries(errors)
    .filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error)
    .map(([name, value]) => {
      const instance = new (value as new () => errors.CodedError)();
      return { name, code: instance.code, statusCode: instance.statusCode };
    });
}

function sourceFiles(): Array<{ path: string; lines: string[] }> {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => ({ path: relative(ROOT, join(SRC, file)), lines: readFileSync(join(SRC, file), 'utf8').split('\n') }));
}

/** `| \`FP_X\` | 400 | meaning | what to do |` rows of docs/errors.md. */
function documentedRows(): Array<{ code: string; status: string; meaning: string; todo: string; line: number }> {
  return readFileSync(join(ROOT, DOCS_FILE), 'utf8')
    .split('\n')
    .flatMap((text, index) => {
      const cells = /^\|\s*`(FP_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(text);
      if (!cells) return [];
      const [status = '', meaning = '', todo = ''] = cells[2]!.split(' | ').map((cell) => cell.trim());
      return [{ code: cells[1]!, status, meaning, todo, line: index + 1 }];
    });
}

describe('the error catalogue', () => {
  const defined = catalogue();
  const codes = new Map(defined.map((entry) => [entry.code, entry]));

  it('finds the catalogue (positive control: the scans below see real codes)', () => {
    // Codes every part of the service uses, so an empty or broken scan cannot pass for a clean one.
    for (const code of ['FP_INVALID_URL', 'FP_NOT_FOUND', 'FP_RATE_LIMITED', 'FP_INTERNAL', 'FP_STORE_UNAVAILABLE']) {
      expect(codes.has(code), code).toBe(true);
    }
    expect(defined.length).toBeGreaterThanOrEqual(15);
    expect(sourceFiles().length).toBeGreaterThan(50);
    expect(documentedRows().length).toBeGreaterThanOrEqual(15);
    // The static code matches what an instance carries: `InternalError.code` is safe to compare with.
    expect(errors.InternalError.code).toBe(new errors.InternalError('x').code);
    expect(errors.RateLimitedError.statusCode).toBe(429);
  });

  it('gives every code one constructor and one HTTP status (4xx or 5xx)', () => {
    const problems: string[] = [];
    for (const entry of defined) {
      const twins = defined.filter((other) => other.code === entry.code && other.name !== entry.name);
      if (twins.length > 0)
        problems.push(`${entry.code} is created by ${entry.name} and ${twins.map((twin) => twin.name).join(', ')}: keep one`);
      if (!/^FP_[A-Z0-9_]+$/.test(entry.code)) problems.push(`${entry.name}: code ${entry.code} does not start with FP_ in capitals`);
      if (entry.statusCode === undefined || entry.statusCode < 400 || entry.statusCode > 599) {
        problems.push(`${entry.name} (${entry.code}) needs an HTTP status from 400 to 599, got ${entry.statusCode}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it(`spells each code once, in ${ERRORS_FILE}, and uses only defined codes elsewhere in src/`, () => {
    const problems: string[] = [];
    const spelledInErrors = new Map<string, number>();
    for (const { path, lines } of sourceFiles()) {
      lines.forEach((text, index) => {
        const where = `${path}:${index + 1}`;
        if (path === ERRORS_FILE) {
          for (const [, , code] of text.matchAll(QUOTED_CODE)) spelledInErrors.set(code!, (spelledInErrors.get(code!) ?? 0) + 1);
          return;
        }
        for (const [, , code] of text.matchAll(QUOTED_CODE)) {
          problems.push(
            codes.has(code!)
              ? `${where} spells '${code}' as a string: use the constructor of ${ERRORS_FILE} (${codes.get(code!)!.name}, or ${codes.get(code!)!.name}.code)`
              : `${where} uses '${code}', which ${ERRORS_FILE} does not define: ${HOW_TO_DEFINE}`,
          );
        }
        // One retry-after field: a second name would be silently dropped by the error handler.
        if (/retryAfterSeconds/.test(text))
          problems.push(`${where} sets retryAfterSeconds: use withRetryAfter(error, ms) from ${ERRORS_FILE} (the one field, retryAfterMs)`);
        // Comments and messages may name codes; a name that is not a code is a typo or a stale reference.
        for (const [code] of text.replace(QUOTED_CODE, '').matchAll(CODE)) {
          if (!codes.has(code))
            problems.push(`${where} names ${code}, which ${ERRORS_FILE} does not define: ${HOW_TO_DEFINE}, or correct the name`);
        }
      });
    }
    for (const [code, count] of spelledInErrors)
      if (count > 1) problems.push(`${ERRORS_FILE} spells '${code}' ${count} times: create it once`);
    for (const code of codes.keys())
      if (!spelledInErrors.has(code)) problems.push(`${code} is not created in ${ERRORS_FILE} itself: move its definition there`);
    expect(problems).toEqual([]);
  });

  it(`documents every code in ${DOCS_FILE} with its status, its meaning and what to do`, () => {
    const problems: string[] = [];
    const rows = documentedRows();
    for (const entry of defined) {
      const documented = rows.filter((row) => row.code === entry.code);
      if (documented.length === 0) {
        problems.push(
          `${entry.code} is not in ${DOCS_FILE}: add a row | \`${entry.code}\` | ${entry.statusCode} | what it means | what the caller should do |`,
        );
      }
      if (documented.length > 1) problems.push(`${entry.code} has ${documented.length} rows in ${DOCS_FILE}: keep one`);
      for (const row of documented) {
        if (row.status !== String(entry.statusCode))
          problems.push(`${DOCS_FILE}:${row.line} gives ${entry.code} status ${row.status}; ${ERRORS_FILE} answers ${entry.statusCode}`);
        if (row.meaning.length < 20) problems.push(`${DOCS_FILE}:${row.line}: say what ${entry.code} means`);
        if (row.todo.length < 10) problems.push(`${DOCS_FILE}:${row.line}: say what to do about ${entry.code}`);
      }
    }
    for (const row of rows) {
      if (!codes.has(row.code))
        problems.push(
          `${DOCS_FILE}:${row.line} documents ${row.code}, which ${ERRORS_FILE} does not define: remove the row or define the code`,
        );
    }
    expect(problems).toEqual([]);
  });
});
