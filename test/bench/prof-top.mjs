#!/usr/bin/env node
/**
 * Top self-time functions of V8 .cpuprofile files (from `node --cpu-prof`, e.g. `run.mjs --prof DIR`).
 *
 *   node test/bench/prof-top.mjs FILE.cpuprofile [--top 25] [--skip-ms 1000] [--self-only]
 *
 * --skip-ms drops the first samples (start-up, module loading) so the table shows the steady
 * state; (idle) is left out of the percentages, which are of busy time. Besides functions it
 * sums self time by file, which points at the module to look at.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { relative } from 'node:path';

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' }, 'skip-ms': { type: 'string', default: '0' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  process.stderr.write('usage: node test/bench/prof-top.mjs FILE.cpuprofile [--top N] [--skip-ms MS]\n');
  process.exit(2);
}
const top = Number(values.top);
const skipUs = Number(values['skip-ms']) * 1000;

for (const file of positionals) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const byFile = new Map();
  let t = 0;
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < skipUs) continue;
    const n = byId.get(prof.samples[i]);
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const url = cf.url ? shorten(cf.url) : '';
    const key = `${cf.functionName || '(anonymous)'}  ${url}${url ? `:${cf.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const fk = url || cf.functionName;
    byFile.set(fk, (byFile.get(fk) ?? 0) + dt);
  }
  const pct = (x) => `${((100 * x) / busy).toFixed(1).padStart(5)}%`;
  process.stdout.write(
    `\n${file}\n  busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s (after skipping ${skipUs / 1000} ms)\n\n  top self time (% of busy):\n`,
  );
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${pct(v)}  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
  }
  process.stdout.write(`\n  self time by file:\n`);
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    process.stdout.write(`  ${pct(v)}  ${k}\n`);
  }
}

function shorten(url) {
  const p = url.replace(/^file:\/\//, '');
  if (p.startsWith('/')) {
    const r = relative(process.cwd(), p);
    return r.startsWith('..') ? p : r;
  }
  return p;
}
