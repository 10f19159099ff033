'use strict';
// jest's order (failed files first, then the slowest of the last run, else the largest), with the
// files that boot a whole stack or real services (e2e, gohan, chaos, openstack) before the unit and
// integration files: on a fresh clone, with no timings yet, the longest files then start first
// instead of last, and the short ones fill the other worker meanwhile.
const Sequencer = require('@jest/test-sequencer').default;

const STACK_PROJECTS = new Set(['e2e', 'gohan', 'chaos', 'openstack']);

class StacksFirstSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const stack = (t) => STACK_PROJECTS.has(t.context.config.displayName?.name);
    return [...sorted.filter(stack), ...sorted.filter((t) => !stack(t))];
  }
}

module.exports = StacksFirstSequencer;
