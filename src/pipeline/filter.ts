// Include/exclude rules of a merged feed. The only import of re2js: users write the patterns, so they
// run on an automaton engine whose time is linear in the input — `(a+)+$` cannot backtrack here.
// Linear is not cheap, though: when re2js's DFA gives up (it does on `a.{1000}b.{1000}[cd]` over
// pseudo-random a/b) its cost is about program size × characters, so a regex rule only looks at as
// many characters of a field as MAX_SCAN_WORK allows its program (scanLimitOf).
import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';
import { BadRequestError } from '../errors.js';
import type { Entry } from '../model.js';
import { plainTextOf } from '../text.js';

export interface FilterRules {
  include?: string[];
  exclude?: string[];
}

export type EntryFilter = (entry: Entry) => boolean;
/** The same decision as steps, one per rule tried on one field: a caller may let other work in between (pipeline/merge.ts). */
export type EntryFilterSteps = (entry: Entry) => Generator<void, boolean, void>;

export const MAX_RULES_PER_LIST = 50;
export const MAX_RULE_LENGTH = 256;
/**
 * Program size × characters one regex rule may scan in one field: one step of a merge (one rule over
 * one field of one entry) is bounded by it. re2js's slow path (a DFA building a state per character,
 * then giving up for its NFA) ran 10–35 million instructions × characters per second of CPU on the
 * 2-core build machine (`a.{k}b.{k}[cd]` over pseudo-random a/b, k from 5 to 1,000, cold and warm),
 * so a step costs at most about 0.2 s there; its fast path is far below that. Set so that ordinary
 * rules read ordinary posts whole: `/\b(rust|golang|kubernetes|…|javascript)\b/i` (74 instructions)
 * reads 27,027 characters, `/\brelease\b/i` (11) 181,818 (at 500,000 the first missed a word 8 KB
 * into a 9 KB post).
 */
export const MAX_SCAN_WORK = 2_000_000;
/**
 * Instructions of a compiled pattern a saved or previewed rule may have: `[a-z]{1,300}` is about
 * 600, a 250-character alternation of words about 250. At most √MAX_SCAN_WORK, so every rule reads
 * at least as many characters as it has instructions — more than its shortest match can need.
 */
export const MAX_PROGRAM_SIZE = 700;
/** The cap before MAX_SCAN_WORK: a feed saved then still runs its rules (each reading 500 characters or more). */
const STORED_MAX_PROGRAM_SIZE = 4_000;

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
  compileRuleList(rules.include, 'include', limits, MAX_PROGRAM_SIZE);
  compileRuleList(rules.exclude, 'exclude', limits, MAX_PROGRAM_SIZE);
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
    // One step per rule and field: a long content field is one step, not a whole entry's fields.
    function* matches(matcher: Matcher): Generator<void, boolean, void> {
      for (const field of fields) {
        yield;
        if (matcher(field.text, field.lowered)) return true;
      }
      return false;
    }
    if (include.length > 0) {
      let included = false;
      for (const matcher of include) {
        if (yield* matches(matcher)) {
          included = true;
          break;
        }
      }
      if (!included) return false;
    }
    for (const matcher of exclude) {
      if (yield* matches(matcher)) return false;
    }
    return true;
  };
}

/**
 * How many characters of each field a rule looks at: all of them for a keyword (a plain substring
 * search), MAX_SCAN_WORK / program size for a regular expression, which finds no match past them
 * (nor one that `$` or `\b` ends at the cut). Throws BadRequestError for a rule no feed can hold.
 */
export function scanLimitOf(rule: string): number {
  const regex = REGEX_RULE.exec(rule);
  if (!regex) return Infinity;
  const [, pattern = '', flags = ''] = regex;
  return scanLimitOfProgram(compileRegex(pattern, flags, 'rule', STORED_MAX_PROGRAM_SIZE));
}

function scanLimitOfProgram(compiled: RE2JS): number {
  return Math.floor(MAX_SCAN_WORK / Math.max(1, compiled.programSize()));
}

/** The first `limit` characters of `text`, a surrogate pair never cut in two. */
function prefixOf(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const last = text.charCodeAt(limit - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? limit - 1 : limit);
}

function compileRuleList(
  rules: readonly unknown[] | undefined,
  list: 'include' | 'exclude',
  limits: RuleLimits = HARD_LIMITS,
  maxProgramSize = STORED_MAX_PROGRAM_SIZE,
): Matcher[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw new BadRequestError(`${list} must be a list of rules`);
  if (rules.length > limits.maxRules)
    throw new BadRequestError(`${list} has more than ${limits.maxRules} rules; remove some, or join keywords into one /a|b/ rule`);
  return rules.map((rule, index) => compileRule(rule, `${list}[${index}]`, limits.maxLength, maxProgramSize));
}

function compileRule(rule: unknown, position: string, maxLength: number, maxProgramSize: number): Matcher {
  if (typeof rule !== 'string') throw new BadRequestError(`${position} must be a string`);
  if (rule.length > maxLength) throw new BadRequestError(`${position} is longer than ${maxLength} characters; shorten it`);
  if (rule.trim() === '') throw new BadRequestError(`${position} is empty`);

  const regex = REGEX_RULE.exec(rule);
  if (!regex) {
    const keyword = rule.toLowerCase();
    return (_field, lowered) => lowered.includes(keyword);
  }
  const [, pattern = '', flags = ''] = regex;
  const compiled = compileRegex(pattern, flags, position, maxProgramSize);
  const limit = scanLimitOfProgram(compiled);
  // `$`, `\z`, `\b` and `\B` look at what follows a match: at the cut of a long field that is not the
  // field's end, so a match ending there is not taken (an escaped `\$` is counted too: the safe side).
  const looksPastEnd = /\$|\\[zbB]/.test(pattern);
  return (field) => {
    const seen = prefixOf(field, limit);
    if (seen.length === field.length || !looksPastEnd) return compiled.test(seen);
    const matcher = compiled.matcher(seen);
    return matcher.find() && matcher.end() < seen.length;
  };
}

function compileRegex(pattern: string, flags: string, position: string, maxProgramSize: number): RE2JS {
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
  if (compiled.programSize() > maxProgramSize) throw new BadRequestError(`${position} is too complex a regular expression`);
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
