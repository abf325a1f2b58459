// Include/exclude rules of a merged feed. The only import of re2js: users write the patterns, so they
// run on an automaton engine whose time is linear in the input — `(a+)+$` cannot backtrack here.
import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';
import { BadRequestError } from '../errors.js';
import type { Entry } from '../model.js';
import { plainTextOf } from '../text.js';

export interface FilterRules {
  include?: string[];
  exclude?: string[];
}

export type EntryFilter = (entry: Entry) => boolean;
/** The same decision as steps, one per rule tried: a caller may let other work in between (pipeline/merge.ts). */
export type EntryFilterSteps = (entry: Entry) => Generator<void, boolean, void>;

export const MAX_RULES_PER_LIST = 50;
export const MAX_RULE_LENGTH = 256;
/** Instructions of a compiled pattern; `[a-z]{1,1000}` is about 2,000, `(a{100}){10}` about 1,000. */
export const MAX_PROGRAM_SIZE = 4_000;

/** `/pattern/flags` with flags drawn from i, m, s; anything else is a keyword. */
const REGEX_RULE = /^\/(.+)\/([ims]*)$/s;

type Matcher = (field: string, lowered: string) => boolean;

/** How many rules a list may hold and how long one may be: the operator's limits, at most the MAX_ constants. */
export interface RuleLimits {
  maxRules: number;
  maxLength: number;
}

const HARD_LIMITS: RuleLimits = { maxRules: MAX_RULES_PER_LIST, maxLength: MAX_RULE_LENGTH };

/**
 * Throws BadRequestError naming the first bad rule by its list and position. `limits` applies when
 * rules are saved or previewed; stored rules are compiled under the hard limits only, so lowering the
 * configured ones never breaks a feed saved before.
 */
export function validateFilterRules(rules: FilterRules, limits: RuleLimits = HARD_LIMITS): void {
  compileRuleList(rules.include, 'include', limits);
  compileRuleList(rules.exclude, 'exclude', limits);
}

/** An entry passes when no include rule is given or one matches, and no exclude rule matches. */
export function compileFilters(rules: FilterRules): EntryFilter {
  const steps = compileFilterSteps(rules);
  return (entry) => {
    const run = steps(entry);
    for (;;) {
      const step = run.next();
      if (step.done) return step.value;
    }
  };
}

/**
 * compileFilters as steps. One rule over one long entry can take milliseconds (re2js also builds
 * its automaton's states the first time they are reached), so a merge yields between rules, not
 * only between entries (issue 18: 3).
 */
export function compileFilterSteps(rules: FilterRules): EntryFilterSteps {
  const include = compileRuleList(rules.include, 'include');
  const exclude = compileRuleList(rules.exclude, 'exclude');
  if (include.length === 0 && exclude.length === 0) {
    // eslint-disable-next-line require-yield -- no rules: nothing to step through
    return function* () {
      return true;
    };
  }
  return function* (entry) {
    const fields = searchableFieldsOf(entry);
    const matches = (matcher: Matcher): boolean => fields.some((field) => matcher(field.text, field.lowered));
    if (include.length > 0) {
      let included = false;
      for (const matcher of include) {
        yield;
        if (matches(matcher)) {
          included = true;
          break;
        }
      }
      if (!included) return false;
    }
    for (const matcher of exclude) {
      yield;
      if (matches(matcher)) return false;
    }
    return true;
  };
}

function compileRuleList(rules: readonly unknown[] | undefined, list: 'include' | 'exclude', limits: RuleLimits = HARD_LIMITS): Matcher[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw new BadRequestError(`${list} must be a list of rules`);
  if (rules.length > limits.maxRules)
    throw new BadRequestError(`${list} has more than ${limits.maxRules} rules; remove some, or join keywords into one /a|b/ rule`);
  return rules.map((rule, index) => compileRule(rule, `${list}[${index}]`, limits.maxLength));
}

function compileRule(rule: unknown, position: string, maxLength: number): Matcher {
  if (typeof rule !== 'string') throw new BadRequestError(`${position} must be a string`);
  if (rule.length > maxLength) throw new BadRequestError(`${position} is longer than ${maxLength} characters; shorten it`);
  if (rule.trim() === '') throw new BadRequestError(`${position} is empty`);

  const regex = REGEX_RULE.exec(rule);
  if (!regex) {
    const keyword = rule.toLowerCase();
    return (_field, lowered) => lowered.includes(keyword);
  }
  const [, pattern = '', flags = ''] = regex;
  const compiled = compileRegex(pattern, flags, position);
  return (field) => compiled.test(field);
}

function compileRegex(pattern: string, flags: string, position: string): RE2JS {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern, flagBitsOf(flags));
  } catch (error) {
    // The description names the problem ("missing closing )"); the rule itself is not echoed back.
    if (error instanceof RE2JSSyntaxException) {
      throw new BadRequestError(`${position} is not a valid regular expression: ${error.getDescription()}`);
    }
    if (error instanceof RE2JSException) throw new BadRequestError(`${position} is not a valid regular expression`);
    throw error;
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) throw new BadRequestError(`${position} is too complex a regular expression`);
  return compiled;
}

function flagBitsOf(flags: string): number {
  let bits = 0;
  if (flags.includes('i')) bits |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('m')) bits |= RE2JS.MULTILINE;
  if (flags.includes('s')) bits |= RE2JS.DOTALL;
  return bits;
}

interface SearchableField {
  text: string;
  lowered: string;
}

/** Rules see what a reader sees: title, summary and content as plain text, categories, author names. */
function searchableFieldsOf(entry: Entry): SearchableField[] {
  const texts = [
    entry.title,
    entry.summary === undefined ? undefined : plainTextOf(entry.summary),
    entry.content === undefined ? undefined : plainTextOf(entry.content),
    ...entry.categories,
    ...entry.authors.map((author) => author.name),
  ];
  return texts.filter((text): text is string => text !== undefined && text !== '').map((text) => ({ text, lowered: text.toLowerCase() }));
}
