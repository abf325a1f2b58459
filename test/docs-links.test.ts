// Every relative link in the README and the docs points at something that exists: a file of the
// repository, and, when it names an anchor of a markdown page, a heading of that page (GitHub's
// slugs). The reference moved out of the README into docs/ (issue 16); this keeps the map whole
// when pages or headings move again. Links to other sites are not fetched.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGES = [
  'README.md',
  'SECURITY.md',
  'BENCHMARKS.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
];

/** The text outside fenced code blocks and inline code, where a `[x](y)` is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, (code) => code.replace(/[[\]()]/g, ' '));
}

/** GitHub's anchor for each heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** What is wrong with each relative link of `page` (a path from the repository root), as readable lines. */
function brokenLinks(page: string, markdown: string, root = ROOT): string[] {
  const problems: string[] = [];
  const lines = prose(markdown).split('\n');
  lines.forEach((line, index) => {
    for (const [, target] of line.matchAll(/!?\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto: … other sites
      const [path, anchor] = target!.split('#', 2) as [string, string | undefined];
      const file = path === '' ? join(root, page) : resolve(root, dirname(page), decodeURI(path));
      const where = `${page}:${index + 1}: ${target}`;
      if (relative(root, file).startsWith('..')) problems.push(`${where} leaves the repository`);
      else if (!existsSync(file)) problems.push(`${where}: no file ${relative(root, file)}`);
      else if (
        anchor !== undefined &&
        file.endsWith('.md') &&
        statSync(file).isFile() &&
        !headingAnchors(path === '' ? markdown : readFileSync(file, 'utf8')).has(anchor)
      ) {
        problems.push(`${where}: ${relative(root, file)} has no heading with the anchor #${anchor}`);
      }
    }
  });
  return problems;
}

describe('links in the README and docs/', () => {
  it('the checker finds a missing file, a missing anchor and a way out of the repository, and ignores code and other sites', () => {
    const page = [
      '# Title here',
      '[ok](docs/errors.md) [ok anchor](#title-here) [ok](README.md#try-it-in-five-minutes) [web](https://example.org/x.md)',
      '[gone](docs/no-such-page.md) [bad anchor](#no-such-heading) [out](../../etc/passwd)',
      '`[not a link](nowhere.md)`',
      '```',
      '[not a link either](nowhere.md)',
      '```',
    ].join('\n');
    const problems = brokenLinks('README.md', page);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('no file docs/no-such-page.md');
    expect(problems[1]).toContain('has no heading with the anchor #no-such-heading');
    expect(problems[2]).toContain('leaves the repository');
  });

  it('makes GitHub anchors of headings with code, punctuation and repeats', () => {
    const anchors = headingAnchors(
      '# The `_feedproxy.source` JSON Feed extension\n## Who reads what: `GET /api/v1/feeds/:id/stats`\n## Supported Node.js versions\n## Notes\n## Notes\n',
    );
    expect([...anchors]).toEqual([
      'the-_feedproxysource-json-feed-extension',
      'who-reads-what-get-apiv1feedsidstats',
      'supported-nodejs-versions',
      'notes',
      'notes-1',
    ]);
  });

  it.each(PAGES)('%s: every relative link resolves', (page) => {
    expect(brokenLinks(page, readFileSync(join(ROOT, page), 'utf8'))).toEqual([]);
  });

  it('the README maps every page of docs/', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const unmapped = PAGES.filter((page) => page.startsWith('docs/') && !readme.includes(`](${page})`));
    expect(unmapped).toEqual([]);
  });
});
