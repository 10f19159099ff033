'use strict';
/**
 * Serverless plugin: before `serverless package` / `deploy` (and `deploy function`) packages the
 * functions, bundles each handler with esbuild (infra/build/bundle.ts) and zips, per function,
 * its bundle, source map, the external packages it imports (etcd3, @grpc/*) and the heat templates
 * if it loads them, with the repo's layout, so the handler string in serverless.yml (`functions/<name>/handler.handler`)
 * names `functions/<name>/handler.js` in the zip. The artifact is set in memory only: `serverless
 * offline start` runs no package hook and keeps loading the `.ts` sources through tsx.
 *
 * A function whose handler source does not exist fails the packaging, unless the `allowMissingHandlers`
 * param is `true` (CI, while a function is declared ahead of its code): then its zip holds no handler
 * and a warning says so. Such a zip is not deployable.
 */
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const fs = require('node:fs');

/** The source of a handler string (`functions/planner/handler.handler` → `functions/planner/handler.ts`). */
function handlerSource(handler, root) {
  const file = handler.slice(0, handler.lastIndexOf('.'));
  for (const ext of ['.ts', '.js']) if (fs.existsSync(path.join(root, file + ext))) return file + ext;
  throw Object.assign(new Error(`handler ${handler}: neither ${file}.ts nor ${file}.js exists`), {
    code: 'NO_HANDLER_SOURCE',
  });
}

class BundlePlugin {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options || {};
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.build(),
      'before:package:function:package': () => this.build(this.options.function ? [this.options.function] : undefined),
      // `serverless invoke local` loads the handler with require(): let it load the .ts sources.
      'before:invoke:local:invoke': () => require('tsx/cjs/api').register(),
    };
  }

  log(msg) {
    process.stderr.write(`[bundle] ${msg}\n`);
  }

  async build(only) {
    const service = this.serverless.service;
    const root = this.serverless.serviceDir;
    const allowMissing = String((this.serverless.service.custom?.bundle || {}).allowMissingHandlers) === 'true';

    const names = (only || service.getAllFunctions()).filter((n) => !service.getFunction(n).image);
    const sources = new Map();
    for (const name of names) {
      try {
        sources.set(name, handlerSource(service.getFunction(name).handler, root));
      } catch (err) {
        if (err.code !== 'NO_HANDLER_SOURCE') throw err;
        if (!allowMissing) throw new Error(`function ${name}: ${err.message}; nothing to deploy`, { cause: err });
        this.log(`WARNING function ${name}: ${err.message}; its package has no handler and cannot be deployed`);
        sources.set(name, undefined);
      }
    }
    const entries = [...new Set([...sources.values()].filter(Boolean))];
    const started = Date.now();
    // In a child process: esbuild must not be loaded through tsx's namespaced require.
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'bundle.ts'), '--out', '.build', '--json', ...entries],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
    );
    const result = JSON.parse(out.trim().split('\n').pop());
    this.log(`bundled ${entries.join(', ')} in ${Date.now() - started} ms`);

    const packager = this.serverless.pluginManager.plugins.find(
      (p) => typeof p.zipFiles === 'function' && typeof p.packageService === 'function',
    );
    if (!packager) throw new Error("the framework's Package plugin (zipFiles) was not found");
    for (const [name, src] of sources) {
      const own = src ? [result.bundles[src], `${result.bundles[src]}.map`] : [];
      // Only what this function uses: its externals (etcd3, …) and templates/ if it loads them.
      const files = [...own, ...(src ? result.filesFor[src] : [])].map((f) => path.join('.build', f));
      const artifact = await packager.zipFiles(files, `${name}.zip`, '.build');
      const fn = service.getFunction(name);
      fn.package = { ...(fn.package || {}), artifact };
    }
  }
}

module.exports = BundlePlugin;
