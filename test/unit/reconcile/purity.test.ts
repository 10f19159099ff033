/**
 * The reconciler's decide core and its time rules are pure: plain values in, decisions out; no
 * etcd, SQS, fs or clock (the I/O part passes the time in). Type-only imports are erased.
 */
import fs from 'node:fs';
import path from 'node:path';

const dir = path.join(__dirname, '..', '..', '..', 'shared', 'reconcile');
const ALLOWED = [/^\.\/memory$/, /^\.\.\/jobs\/resolve$/];

it.each(['decide.ts', 'memory.ts'])('%s imports nothing with I/O', (file) => {
  const text = fs.readFileSync(path.join(dir, file), 'utf8');
  const specifiers = [...text.matchAll(/^import (?!type )[^'"]*?from\s+['"]([^'"]+)['"]/gm)].flatMap((m) => m[1] ?? []);
  expect(specifiers.filter((s) => !ALLOWED.some((re) => re.test(s)))).toEqual([]);
  expect(text).not.toMatch(/\b(Date\.now|new Date|process\.|setTimeout|fetch\()/);
});
