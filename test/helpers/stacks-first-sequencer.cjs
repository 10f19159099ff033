'use strict';
// jest's order (failed files first, then the slowest of the last run, else the largest), with the
// files that boot a whole stack or real services (e2e, gohan, chaos, openstack) before the unit and
// integration files, and among those first the files that wait out real time (an outage, a token's
// lifetime, a hold), as their header's `@waits <seconds>` says: on a fresh clone, with no timings
// yet, the longest files then start first instead of last, and the short ones fill the other
// workers meanwhile.
const fs = require('node:fs');
const Sequencer = require('@jest/test-sequencer').default;

const STACK_PROJECTS = new Set(['e2e', 'gohan', 'chaos', 'openstack']);

/** The seconds a file says it waits out (its header's `@waits N`), else 0. */
function waits(test) {
  const m = /@waits (\d+)/.exec(fs.readFileSync(test.path, 'utf8').slice(0, 3000));
  return m ? Number(m[1]) : 0;
}

class StacksFirstSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const stack = (t) => STACK_PROJECTS.has(t.context.config.displayName?.name);
    const stacks = sorted.filter(stack).map((t, i) => ({ t, i, w: waits(t) }));
    stacks.sort((a, b) => b.w - a.w || a.i - b.i);
    return [...stacks.map((s) => s.t), ...sorted.filter((t) => !stack(t))];
  }
}

module.exports = StacksFirstSequencer;
