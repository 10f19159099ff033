/**
 * shared/planner is the pure core: it may import only its own files, the type of Gohan's config
 * value, the pure JSON-object check and its JSON schema data, never etcd, fs, the network or the clock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers';

const dir = path.join(REPO, 'shared', 'planner');
const ALLOWED = [/^\.\/[\w-]+(\.json)?$/, /^\.\.\/gohan\/config-value$/, /^\.\.\/encoding\/json-object$/];

it.each(fs.readdirSync(dir).filter((f) => f.endsWith('.ts')))('%s imports nothing with I/O', (file) => {
  const text = fs.readFileSync(path.join(dir, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].flatMap((m) => m[1] ?? m[2] ?? []);
  expect(specifiers.filter((s) => !ALLOWED.some((re) => re.test(s)))).toEqual([]);
  expect(text).not.toMatch(/\b(Date\.now|new Date|process\.|setTimeout|fetch\()/);
});
