// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by package or src/ file, and the
// hottest functions — how BENCHMARKS.md's diagnoses were made.
// Usage: npx tsx bench/summarize-profile.ts <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/<pkg>` or `src/<dir>/<file>`, else node internals / the program. */
export function ownerOf(url: string): string {
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1]!;
  const source = /\/(src|bench|test)\/(.+?)(\?.*)?$/.exec(url);
  if (source) return `${source[1]}/${source[2]}`;
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native / gc / idle)' : url;
}

export function summarizeProfile(path: string, top = 25): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  // A server's start-up (module loading, compiling) is not what a request costs: samples before the
  // first one inside an HTTP request (node's parserOnIncoming) are left out, when there is one.
  const inRequest = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      if (byId.get(at)!.callFrame.functionName === 'parserOnIncoming') return true;
    }
    return false;
  };
  const firstRequest = Math.max(profile.samples.findIndex(inRequest), 0);
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, index) => {
    if (index >= firstRequest) selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000);
  });
  const total = [...selfMs.values()].reduce((a, b) => a + b, 0);
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const owner = ownerOf(url);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + ms);
    const name = `${functionName || '(anonymous)'} ${owner}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  const idle = [...selfMs].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, ms]) => a + ms, 0);
  const lines = [`total ${total.toFixed(0)} ms sampled from the first request on, idle ${idle.toFixed(0)} ms`, '', 'self time by owner:'];
  const busy = total - idle;
  for (const [owner, ms] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${owner}`);
  }
  lines.push('', 'hottest functions (self):');
  for (const [name, ms] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`);
  }
  // Inclusive time: a function's own samples and those of everything it called (counted once per
  // sample even when it recurses), to see what a hook or a route costs with its callees.
  const inclusive = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
      const name = `${functionName || '(anonymous)'} ${ownerOf(url)}:${lineNumber + 1}`;
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
    }
  }
  lines.push('', 'hottest functions (inclusive):');
  for (const [name, ms] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) {
    lines.push(`  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`);
  }
  return lines;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [path, top] = process.argv.slice(2);
  if (!path) {
    console.error('usage: tsx bench/summarize-profile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(summarizeProfile(path, Number(top ?? 25)).join('\n'));
}
