#!/usr/bin/env node
'use strict';
// Runs npm scripts at the same time (the static checks of `npm test`: tsc, ESLint, Prettier), each
// one's output printed whole when it ends, and fails when any of them fails.
const { spawn } = require('node:child_process');

const scripts = process.argv.slice(2);
let failed = 0;
let left = scripts.length;
for (const script of scripts) {
  const started = Date.now();
  const child = spawn('npm', ['run', '-s', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => out.push(d));
  child.on('close', (code) => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${code === 0 ? 'ok  ' : 'FAIL'} ${script} (${seconds} s)\n${Buffer.concat(out).toString()}`);
    if (code !== 0) failed++;
    if (--left === 0) process.exit(failed ? 1 : 0);
  });
}
