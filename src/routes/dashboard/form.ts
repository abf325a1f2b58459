// HTML form bodies (application/x-www-form-urlencoded), parsed with node's URLSearchParams.
import { BadRequestError } from '../../errors.js';

export type FormBody = Record<string, string | string[]>;

/** More than any of our forms holds (a feed's form lists at most 1,000 sources and 100 rules). */
export const MAX_FORM_FIELDS = 4096;

export function parseForm(text: string): FormBody {
  // Counted before parsing: a 1 MiB body of `a=&` (350,000 fields) cost 0.37 s of the event loop on
  // the sign-in form, which takes anyone's posts.
  let separators = 0;
  for (let at = text.indexOf('&'); at >= 0; at = text.indexOf('&', at + 1)) {
    if (++separators >= MAX_FORM_FIELDS) throw new BadRequestError(`a form holds at most ${MAX_FORM_FIELDS} fields`);
  }
  // No prototype: a field named `__proto__` or `toString` is a field like any other.
  const body: FormBody = Object.create(null) as FormBody;
  for (const [name, value] of new URLSearchParams(text)) {
    const seen = body[name];
    // Appended in place: a copy a repeat made parsing quadratic in the repeats of one name (a 240 KB
    // body of `a=&` held the event loop 24 s, before any session or CSRF check).
    if (seen === undefined) body[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else body[name] = [seen, value];
  }
  return body;
}

/** One field's value ('' when absent; the first when repeated). */
export function field(body: unknown, name: string): string {
  const value = (body as FormBody | null)?.[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** Every value of a repeated field (checkboxes). */
export function fields(body: unknown, name: string): string[] {
  const value = (body as FormBody | null)?.[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Non-empty lines of a textarea. */
export function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** An integer field, or undefined when empty (so the API applies its default); NaN stays NaN for the API to refuse. */
export function integerField(body: unknown, name: string): number | undefined {
  const text = field(body, name).trim();
  return text === '' ? undefined : Number(text);
}
