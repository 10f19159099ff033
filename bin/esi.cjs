#!/usr/bin/env node
// The `esi` operator CLI. Runs the TypeScript sources through tsx, like the local stack does.
require('tsx/cjs');
require('../cli/main.ts');
