/**
 * One-off import of the recorded Gohan `heat_templates` resources into this repo.
 *
 *   npx tsx templates/tools/import-record.ts <record heat_templates dir> [out dir]
 *
 * Reads every `<id>.json` (the etcd value `{body, version, marked_for_deletion}`; `body` may be
 * decoded or still the escaped JSON string Gohan writes on the wire) and writes
 * `templates/heat_templates/<id>.yaml` with keys `id, handler, watch, parameter_mappings,
 * template_file`, `template_file` as a literal block scalar.
 *
 * This script was run once; the YAML files have since been hand-ported from Jinja2 to Liquid
 * and are the source of truth. Re-running it would overwrite those ports with the Jinja
 * originals, so it refuses to overwrite existing files unless `--force` is given.
 *
 * parameter_mappings keeps the key order of the JSON: the planner emits job params in that
 * order. JSON.parse keeps insertion order for non-integer keys, and the record has no
 * integer-like keys (the script checks, since JS would silently move them first).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML, { Scalar } from 'yaml';

interface RecordBody {
  id: string;
  handler: string;
  watch: unknown;
  template_file: string;
  parameter_mappings: Record<string, unknown>;
}

function decodeBody(value: unknown, file: string): RecordBody {
  const raw = (value as { body?: unknown }).body;
  const body = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  if (!body || typeof body !== 'object') throw new Error(`${file}: no body`);
  const b = body as Partial<RecordBody>;
  for (const k of ['id', 'handler', 'template_file', 'parameter_mappings'] as const) {
    if (b[k] === undefined) throw new Error(`${file}: body has no ${k}`);
  }
  return b as RecordBody;
}

function assertNoIntegerKeys(o: unknown, where: string): void {
  if (Array.isArray(o)) {
    o.forEach((v) => assertNoIntegerKeys(v, where));
  } else if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      if (/^\d+$/.test(k)) throw new Error(`${where}: integer-like key "${k}" would lose its order`);
      assertNoIntegerKeys(v, `${where}.${k}`);
    }
  }
}

export function toYaml(body: RecordBody): string {
  const doc = new YAML.Document({
    id: body.id,
    handler: body.handler,
    watch: body.watch ?? [],
    parameter_mappings: body.parameter_mappings,
    template_file: body.template_file,
  });
  const tf = doc.get('template_file', true) as Scalar;
  tf.type = Scalar.BLOCK_LITERAL;
  // lineWidth 0: never fold long mapping strings.
  return doc.toString({ lineWidth: 0 });
}

function main(argv: string[]): void {
  const force = argv.includes('--force');
  const args = argv.filter((a) => a !== '--force');
  const src = args[0];
  const out = args[1] ?? path.join(__dirname, '..', 'heat_templates');
  if (!src) throw new Error('usage: import-record.ts <record heat_templates dir> [out dir] [--force]');
  fs.mkdirSync(out, { recursive: true });
  let n = 0;
  for (const file of fs.readdirSync(src).sort()) {
    // `_index.json` etc. are the record's own metadata, not templates.
    if (!file.endsWith('.json') || file.startsWith('_')) continue;
    const body = decodeBody(JSON.parse(fs.readFileSync(path.join(src, file), 'utf8')), file);
    assertNoIntegerKeys(body.parameter_mappings, body.id);
    const text = toYaml(body);
    // Round-trip check: the YAML must give back exactly the recorded body.
    const back = YAML.parse(text) as RecordBody;
    if (back.template_file !== body.template_file) throw new Error(`${body.id}: template_file did not round-trip`);
    if (JSON.stringify(back.parameter_mappings) !== JSON.stringify(body.parameter_mappings)) {
      throw new Error(`${body.id}: parameter_mappings did not round-trip`);
    }
    const dest = path.join(out, `${body.id}.yaml`);
    if (fs.existsSync(dest) && !force) {
      console.log(`skip ${dest} (exists; --force to overwrite)`);
      continue;
    }
    fs.writeFileSync(dest, text);
    n += 1;
  }
  console.log(`wrote ${n} template(s) to ${out}`);
}

if (require.main === module) main(process.argv.slice(2));
