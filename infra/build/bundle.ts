/**
 * The deployable build: the Lambda runtime runs JavaScript, not the `.ts` sources that
 * `serverless offline start` loads through tsx. This bundles each entry point with esbuild
 * (CommonJS, node24, source maps) into `.build/`, keeping the packages that load files at run
 * time (etcd3 reads its .proto files; @grpc/* with it) external, and copies exactly those
 * packages and their dependency closure into `.build/node_modules`. The heat templates are read
 * from `templates/` two levels above the handler (shared/templates/load.ts), so `.build/` mirrors
 * the repo layout:
 *
 *   .build/functions/<name>/handler.js(.map)   one per function
 *   .build/functions/relay/main.js(.map)       the relay (the container image runs it)
 *   .build/templates/…                         shipped heat templates
 *   .build/node_modules/…                      the externals and what they require
 *   .build/package.json                        names the externals (for the image)
 *
 * Used by the serverless plugin next to it (before `serverless package` / `deploy`) and on its
 * own: `npx tsx infra/build/bundle.ts [--out .build] [--json] [entry.ts …]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { definedOnly } from '../../shared/defined-only';

export const ROOT = path.resolve(__dirname, '..', '..');
/** Packages not bundled: etcd3 loads its .proto at run time (and brings @grpc/* with it). */
export const EXTERNALS = ['etcd3', '@grpc/grpc-js', '@grpc/proto-loader'];

export interface BundleOptions {
  root?: string;
  /** Output directory (relative to root or absolute); default `.build`. */
  outDir?: string;
  /** Entry points relative to root, e.g. `functions/planner/handler.ts`; default: every function handler and the relay. */
  entries?: string[];
}

export interface BundleResult {
  outDir: string;
  /** Per entry (relative path of the source) the bundle's path relative to outDir. */
  bundles: Record<string, string>;
  /** Every file under outDir beside the bundles (node_modules, templates), relative to outDir. */
  sharedFiles: string[];
  /**
   * Per entry, the files of sharedFiles its bundle uses: the external packages it imports with
   * their dependencies, and templates/ when it includes the template loader (shared/templates/load.ts).
   */
  filesFor: Record<string, string[]>;
}

/** The module that reads templates/ at run time: a bundle that includes it needs the folder. */
const TEMPLATE_LOADER = 'shared/templates/load.ts';

/** Every `functions/<name>/handler.ts`, and `functions/relay/main.ts`. */
export function defaultEntries(root = ROOT): string[] {
  const dir = path.join(root, 'functions');
  const entries = fs
    .readdirSync(dir)
    .sort()
    .map((name) => `functions/${name}/handler.ts`)
    .filter((f) => fs.existsSync(path.join(root, f)));
  if (fs.existsSync(path.join(root, 'functions/relay/main.ts'))) entries.push('functions/relay/main.ts');
  return entries;
}

export async function bundle(opts: BundleOptions = {}): Promise<BundleResult> {
  const root = opts.root ?? ROOT;
  const outDir = path.resolve(root, opts.outDir ?? '.build');
  const entries = opts.entries ?? defaultEntries(root);
  for (const e of entries) if (!fs.existsSync(path.join(root, e))) throw new Error(`entry point ${e} does not exist`);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });

  const result = await build({
    absWorkingDir: root,
    entryPoints: entries.map((e) => ({ in: e, out: e.replace(/\.[cm]?[jt]s$/, '') })),
    outdir: outDir,
    outbase: root,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    sourcemap: true,
    sourcesContent: false,
    external: EXTERNALS,
    logLevel: 'warning',
    metafile: true,
  });
  if (result.errors.length) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join('; ')}`);

  const sharedFiles: string[] = [];
  /** Files under outDir per external package directory (relative to root), and of templates/. */
  const filesOf = new Map<string, string[]>();
  const copy = (from: string, rel: string, keep: (f: string) => boolean) => {
    const files: string[] = [];
    copyTree(from, path.join(outDir, rel), (f) => files.push(path.join(rel, f)), keep);
    filesOf.set(rel, files);
    sharedFiles.push(...files);
  };
  // Type declarations, sources maps of the packages, docs: never loaded at run time.
  const runtimeFile = (f: string) => !/\.d\.[cm]?ts(\.map)?$|\.map$|(^|\/)(README|CHANGELOG)[^/]*$|\.md$/i.test(f);
  for (const pkgDir of dependencyClosure(EXTERNALS, root)) copy(pkgDir, path.relative(root, pkgDir), runtimeFile);
  if (fs.existsSync(path.join(root, 'templates')))
    copy(path.join(root, 'templates'), 'templates', (f) => !/^tools(\/|$)/.test(f));
  const rootPkg = readPackage(root);
  const deps = Object.fromEntries(EXTERNALS.map((n) => [n, readPackage(resolvePackage(n, root, root)!).version]));
  fs.writeFileSync(
    path.join(outDir, 'package.json'),
    `${JSON.stringify({ name: `${rootPkg.name}-bundle`, private: true, version: rootPkg.version, dependencies: deps }, null, 2)}\n`,
  );
  sharedFiles.push('package.json');

  const bundleOf = (e: string) => e.replace(/\.[cm]?[jt]s$/, '.js');
  const bundles = Object.fromEntries(entries.map((e) => [e, bundleOf(e)]));
  const filesFor: Record<string, string[]> = {};
  for (const e of entries) {
    const output = result.metafile.outputs[path.relative(root, path.join(outDir, bundleOf(e)))];
    const imported = (output?.imports ?? []).filter((i) => i.external).map((i) => i.path);
    const externals = EXTERNALS.filter((n) => imported.includes(n));
    const files = dependencyClosure(externals, root).flatMap((dir) => filesOf.get(path.relative(root, dir)) ?? []);
    if (output && Object.keys(output.inputs).includes(TEMPLATE_LOADER)) files.push(...(filesOf.get('templates') ?? []));
    filesFor[e] = [...files, 'package.json'].sort();
  }
  return { outDir, bundles, sharedFiles: sharedFiles.sort(), filesFor };
}

/** The fields of a package.json the bundler reads. */
interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readPackage = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;

/** Node's lookup: `<from>/node_modules/<name>`, then each parent up to the root. */
function resolvePackage(name: string, from: string, root: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === path.dirname(dir)) return undefined;
  }
}

/** The package directories of `names` and of everything they depend on (optional ones when installed). */
export function dependencyClosure(names: string[], root = ROOT): string[] {
  const seen = new Set<string>();
  const visit = (name: string, from: string, optional: boolean) => {
    const dir = resolvePackage(name, from, root);
    if (!dir) {
      if (optional) return;
      throw new Error(`${name} (required from ${path.relative(root, from) || '.'}) is not installed`);
    }
    // Type declarations only (protobufjs lists @types/node): never loaded at run time.
    if (seen.has(dir) || name.startsWith('@types/')) return;
    seen.add(dir);
    const pkg = readPackage(dir);
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, dir, true);
  };
  for (const n of names) visit(n, root, false);
  return [...seen].sort();
}

/** Copies a package (without its nested node_modules, which are copied as dependencies when reached). */
function copyTree(
  src: string,
  dest: string,
  onFile: (rel: string) => void,
  keep: (rel: string) => boolean = () => true,
  rel = '',
): void {
  for (const entry of fs.readdirSync(path.join(src, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.name === 'node_modules' || !keep(r)) continue;
    if (entry.isDirectory()) copyTree(src, dest, onFile, keep, r);
    else if (entry.isFile()) {
      fs.mkdirSync(path.dirname(path.join(dest, r)), { recursive: true });
      fs.copyFileSync(path.join(src, r), path.join(dest, r));
      onFile(r);
    }
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--out');
  const outDir = outIdx >= 0 ? args.splice(outIdx, 2)[1] : undefined;
  const jsonIdx = args.indexOf('--json');
  if (jsonIdx >= 0) args.splice(jsonIdx, 1);
  bundle(definedOnly({ outDir, entries: args.length ? args : undefined })).then(
    (r) => {
      // --json: the result as one line (infra/build/index.js reads it).
      if (jsonIdx >= 0) return void console.log(JSON.stringify(r));
      for (const [src, out] of Object.entries(r.bundles))
        console.log(`${src} -> ${path.relative(ROOT, path.join(r.outDir, out))}`);
      console.log(
        `${r.sharedFiles.length} shared files (externals ${EXTERNALS.join(', ')} and their dependencies, templates)`,
      );
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
