// HTML form bodies (application/x-www-form-urlencoded), parsed with node's URLSearchParams.
export type FormBody = Record<string, string | string[]>;

export function parseForm(text: string): FormBody {
  const body: FormBody = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const seen = body[name];
    body[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
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
