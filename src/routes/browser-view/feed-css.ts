// The one style sheet of the browser view (the XSL's output and the HTML feed page): a file of its
// own rather than inline styles, so a strict Content-Security-Policy needs no 'unsafe-inline'.

export const FEED_CSS = `:root { color-scheme: light dark; --muted: #666; --line: #ddd; --accent: #c25400; }
@media (prefers-color-scheme: dark) { :root { --muted: #aaa; --line: #444; --accent: #ff9a4d; } }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
header { border-bottom: 1px solid var(--line); padding-bottom: 1rem; margin-bottom: 1rem; }
.badge { display: inline-block; margin: 0; padding: 0 .5rem; border-radius: .25rem; background: var(--accent); color: #fff; font-weight: 600; font-size: .8rem; text-transform: uppercase; }
h1 { margin: .5rem 0; }
.help { color: var(--muted); }
.copy { display: block; margin: .5rem 0; font-weight: 600; }
.copy input { display: block; width: 100%; box-sizing: border-box; font: 14px ui-monospace, monospace; padding: .4rem; margin-top: .2rem; }
article { padding: .75rem 0; border-bottom: 1px solid var(--line); }
article h2 { font-size: 1.1rem; margin: 0; }
.meta { color: var(--muted); font-size: .85rem; margin: .2rem 0; }
.summary { margin: .3rem 0 0; }
a { color: var(--accent); }
`;
