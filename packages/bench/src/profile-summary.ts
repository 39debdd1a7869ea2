#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import path from 'node:path';

/*
 * Summarizes a V8 .cpuprofile (from `npm run bench -- ... --node-args "--cpu-prof --cpu-prof-dir=DIR"`):
 * self time by function and by file/package. Usage: node packages/bench/dist/profile-summary.js FILE [top]
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (!file) {
  console.error('usage: profile-summary FILE.cpuprofile [top]');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

function where(url: string): string {
  if (!url) return '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0)
    return u
      .slice(nm + 13)
      .split('/')
      .slice(0, u.slice(nm + 13).startsWith('@') ? 2 : 1)
      .join('/');
  if (u.startsWith('node:')) return u;
  const pk = u.indexOf('/packages/');
  return pk >= 0 ? u.slice(pk + 10) : path.basename(u);
}

const fn = new Map<string, number>();
const mod = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const f = n.callFrame;
  const w = where(f.url);
  const key = `${f.functionName || '(anonymous)'}  ${w}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const m = f.url ? w.replace(/:.*$/, '') : f.functionName.startsWith('(') ? f.functionName : '(native/builtin)';
  mod.set(m, (mod.get(m) ?? 0) + us);
}
const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
const wall = (prof.endTime - prof.startTime) / 1e6;
console.log(`profile ${path.basename(file)}: ${wall.toFixed(1)} s wall, ${(total / 1e6).toFixed(1)} s sampled`);
console.log(`\ntop ${top} functions by self time:`);
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
console.log('\nby file / package:');
for (const [k, us] of [...mod].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
