// Auto-escaping HTML templates: every value interpolated into `html` is escaped unless it is itself
// the result of `html` (or `raw`, kept for markup this module built). A page cannot forget to escape.
import { escapeHtml } from '../../text.js';

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Markup built by code (never user text), e.g. an SVG path computed from numbers. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
