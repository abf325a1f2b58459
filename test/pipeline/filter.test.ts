import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/model.js';
import { compileFilters, MAX_RULE_LENGTH, MAX_RULES_PER_LIST, validateFilterRules, type FilterRules } from '../../src/pipeline/filter.js';

function entry(fields: Partial<Entry>): Entry {
  return { id: 'e', authors: [], categories: [], enclosures: [], ...fields };
}

const release = entry({
  title: 'Release 2.0 of Widget',
  summary: '<p>Fish &amp; chips <strong>tonight</strong></p>',
  content: '<div class="sponsored">Big <em>news</em>&#33;</div>',
  categories: ['Announcements'],
  authors: [{ name: 'Grace Hopper', email: 'grace@example.org' }],
});

describe('compileFilters', () => {
  it.each<[string, FilterRules, boolean]>([
    ['no rules', {}, true],
    ['empty lists', { include: [], exclude: [] }, true],
    ['keyword in the title, any case', { include: ['WIDGET'] }, true],
    ['keyword in the summary as text, entities decoded', { include: ['fish & chips'] }, true],
    ['keyword across a removed tag', { include: ['big news'] }, true],
    ['keyword from a numeric entity', { include: ['!'] }, true],
    ['keyword that is only a tag name', { include: ['strong'] }, false],
    ['keyword that is only an attribute', { include: ['sponsored'] }, false],
    ['keyword in a category', { include: ['announce'] }, true],
    ['keyword in an author name', { include: ['hopper'] }, true],
    ['an author e-mail is not searched', { include: ['grace@'] }, false],
    ['keyword found nowhere', { include: ['kubernetes'] }, false],
    ['any include rule is enough', { include: ['kubernetes', 'widget'] }, true],
    ['regex on the title', { include: ['/^Release \\d+\\.\\d+/'] }, true],
    ['regex is case-sensitive without i', { include: ['/^release/'] }, false],
    ['regex with i', { include: ['/^release/i'] }, true],
    ['regex with m matches at a line start', { include: ['/^Grace/m'] }, true],
    ['an exclude keyword wins over an include', { include: ['widget'], exclude: ['chips'] }, false],
    ['an exclude regex', { exclude: ['/\\bnews\\b/'] }, false],
    ['an exclude that does not match', { exclude: ['kubernetes'] }, true],
    ['unknown flags make a keyword, not a regex', { include: ['/Release/x'] }, false],
    ['slashes without regex form are a keyword', { include: ['2.0 of'] }, true],
  ])('%s', (_name, rules, passes) => {
    expect(compileFilters(rules)(release)).toBe(passes);
  });

  it('treats a slash-delimited keyword with unknown flags literally', () => {
    expect(compileFilters({ include: ['/usr/bin'] })(entry({ title: 'Moved to /usr/bin today' }))).toBe(true);
  });

  it('runs a catastrophic-backtracking pattern over 100k characters in linear time', () => {
    const hostile = entry({ title: `${'a'.repeat(100_000)}!`, content: `<p>${'a'.repeat(100_000)}!</p>` });
    expect(compileFilters({ include: ['/(a+)+$/'] })(hostile)).toBe(false);
    expect(compileFilters({ exclude: ['/(a|aa)+b/'] })(hostile)).toBe(true);
    expect(compileFilters({ include: ['/(a+)+!$/'] })(hostile)).toBe(true);
  });
});

describe('validateFilterRules', () => {
  it.each<[string, FilterRules, RegExp]>([
    [
      'too many rules',
      { include: Array.from({ length: MAX_RULES_PER_LIST + 1 }, (_, i) => `k${i}`) },
      /^include has more than 50 rules; remove some, or join keywords into one \/a\|b\/ rule$/,
    ],
    ['a rule too long', { exclude: ['ok', 'x'.repeat(MAX_RULE_LENGTH + 1)] }, /^exclude\[1\] is longer than 256 characters; shorten it$/],
    ['an empty rule', { include: ['  '] }, /^include\[0\] is empty$/],
    ['an unbalanced regex', { include: ['fine', '/(unclosed/'] }, /^include\[1\] is not a valid regular expression: missing closing \)/],
    ['a lookahead (not linear-time)', { exclude: ['/(?=x)y/'] }, /^exclude\[0\] is not a valid regular expression/],
    ['a backreference', { exclude: ['/(a)\\1/'] }, /^exclude\[0\] is not a valid regular expression/],
    ['a repeat count RE2 refuses', { include: ['/a{1001}/'] }, /^include\[0\] is not a valid regular expression: invalid repeat count/],
    ['a program too large', { include: ['/a{1000}b{1000}c{1000}d{1000}e{1000}/'] }, /^include\[0\] is too complex a regular expression$/],
    ['a rule that is not a string', { include: [42 as unknown as string] }, /^include\[0\] must be a string$/],
  ])('refuses %s with a 400 naming its position', (_name, rules, message) => {
    let thrown: unknown;
    try {
      validateFilterRules(rules);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'FP_BAD_REQUEST', statusCode: 400 });
    expect((thrown as Error).message).toMatch(message);
  });

  it('does not echo a huge rule back', () => {
    const huge = `/${'(a)'.repeat(300_000)}/`;
    expect(() => validateFilterRules({ include: [huge] })).toThrow(/^include\[0\] is longer than 256 characters; shorten it$/);
  });

  it('accepts 50 rules of 256 characters per list', () => {
    const rules = Array.from({ length: MAX_RULES_PER_LIST }, (_, i) => `${i}`.padEnd(MAX_RULE_LENGTH, 'x'));
    expect(() => validateFilterRules({ include: rules, exclude: rules })).not.toThrow();
  });

  it('throws from compileFilters too', () => {
    expect(() => compileFilters({ include: ['/[/'] })).toThrow(/include\[0\]/);
  });
});
