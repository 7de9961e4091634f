#!/usr/bin/env node
// Enforces the dependency rules of DESIGN.md on src/: pure folders stay pure, only telemetry/
// imports OpenTelemetry, only config/ (and cli.ts) reads the environment, and nothing but the
// CLI layer imports the composition root. Exits 1 listing every broken rule.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const src = join(root, 'src');

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT_RE = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
const PURE = ['frames', 'balance', 'routing'];
const problems = [];

for (const file of files(src)) {
  const rel = relative(src, file);
  const folder = rel.includes('/') ? rel.split('/')[0] : '';
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(IMPORT_RE)) {
    const typeOnly = Boolean(m[2]);
    const spec = m[3] ?? m[4];
    if (spec.startsWith('@opentelemetry/') && folder !== 'telemetry') {
      problems.push(`${rel}: imports ${spec} — only src/telemetry/ may import OpenTelemetry`);
    }
    if (!spec.startsWith('.')) continue;
    const target = relative(src, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
    const targetFolder = target.includes('/') ? target.split('/')[0] : '';
    if (PURE.includes(folder) && targetFolder !== folder && !typeOnly) {
      problems.push(`${rel}: imports ${spec} — src/${folder}/ is pure and may import only its own files (or types)`);
    }
    if (target === 'app.ts' && !(rel === 'cli.ts' || rel === 'index.ts' || folder === 'commands')) {
      problems.push(`${rel}: imports app.ts — only the CLI layer (cli.ts, commands/) and index.ts may`);
    }
  }
  if (/process\.env\b/.test(text) && folder !== 'config' && rel !== 'cli.ts') {
    problems.push(`${rel}: reads process.env — only src/config/ (and cli.ts) may read the environment`);
  }
  if (/process\.(exit|on)\(/.test(text) && rel !== 'cli.ts') {
    problems.push(`${rel}: touches process (exit/signals) — only cli.ts may`);
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`check:deps: ${problems.length} broken dependency rule${problems.length === 1 ? '' : 's'}`);
  process.exit(1);
}
console.log('check:deps: dependency rules hold');
