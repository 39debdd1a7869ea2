// Runs every compiled test file (packages/*/dist/**/*.test.js) with node's test runner.
// Only those whose source (packages/*/src/**/*.test.ts) still exists: tsc -b never deletes
// output, so a deleted or renamed test would otherwise keep running from its stale .js.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full);
    else if (name.endsWith('.test.js')) files.push(full);
  }
}
for (const pkg of readdirSync(path.join(root, 'packages'))) {
  const dist = path.join(root, 'packages', pkg, 'dist');
  if (existsSync(dist)) walk(dist);
}
const stale = [];
const current = files.filter((f) => {
  const source = f.replace(`${path.sep}dist${path.sep}`, `${path.sep}src${path.sep}`).replace(/\.js$/, '.ts');
  if (existsSync(source)) return true;
  stale.push(path.relative(root, f));
  return false;
});
if (stale.length) console.log(`# not run: compiled tests without a source (stale output): ${stale.join(', ')}`);
const filter = process.argv.slice(2);
// Matched against the path inside the repository: a checkout whose own folder name contains
// the filter (a worktree named after its branch) would otherwise select every file.
const selected = filter.length ? current.filter((f) => filter.some((s) => path.relative(root, f).includes(s))) : current;
if (selected.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// A file whose process never exits (a timer left running) fails after 15 minutes instead of hanging the run.
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=900000', ...selected], { stdio: 'inherit' });
process.exit(res.status ?? 1);
