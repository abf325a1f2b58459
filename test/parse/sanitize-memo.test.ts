// The sanitise memo: same input and scope → the remembered output; bounded by size.
import { describe, expect, it } from 'vitest';
import { createSanitizeMemo } from '../../src/parse/sanitize-memo.js';

const html = (n: number) => `<p>entry ${n} ${'text '.repeat(20)}</p>`;

describe('sanitize memo', () => {
  it('computes once per input and scope', () => {
    const memo = createSanitizeMemo();
    let calls = 0;
    const clean = (input: string, scope = 'https://a.example/feed?token=1') => memo.remember('html', scope, input, () => `${(calls += 1)}:${input.length}`);
    expect(clean(html(1))).toBe(clean(html(1)));
    expect(calls).toBe(1);
    // Another source (other secrets to redact) or another base is another output.
    clean(html(1), 'https://b.example/feed?token=2');
    clean(html(2));
    expect(calls).toBe(3);
    // Short inputs are not worth remembering.
    clean('<b>x</b>');
    clean('<b>x</b>');
    expect(calls).toBe(5);
  });

  it('keeps kinds apart', () => {
    const memo = createSanitizeMemo();
    expect(memo.remember('html', 's', html(1), () => 'as html')).toBe('as html');
    expect(memo.remember('text', 's', html(1), () => 'as text')).toBe('as text');
  });

  it('forgets the least recently used outputs past its size', () => {
    const memo = createSanitizeMemo(1600);
    let calls = 0;
    const clean = (n: number) => memo.remember('html', 's', html(n), () => `${(calls += 1)}`.padEnd(100, '.'));
    for (let n = 0; n < 16; n += 1) clean(n);
    clean(0); // touched: now the most recent
    clean(16); // over budget: the oldest untouched (1) goes
    expect(calls).toBe(17);
    clean(0);
    expect(calls).toBe(17);
    clean(1);
    expect(calls).toBe(18);
  });
});
