/** `esi scenario from-trace <trace.jsonl>`: a recorded trace → a scenario file for `npm run demo -- --scenario`. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseTrace, scenarioFromTrace } from '../../infra/demo/from-trace';

export function registerScenarioCommands(program: Command): void {
  const scenario = program.command('scenario').description('replayable scenarios (docs/scenarios.md)');
  scenario
    .command('from-trace <trace>')
    .description(
      'turn a recorded trace (JSON lines: /config writes in order, /jobs, /state, /monitoring) into a scenario: ' +
        'the config writes (lost ones rebuilt from their job), the final /state and /monitoring of each resource, ' +
        'the recorded heat outputs and collector statuses for the simulators',
    )
    .option('-o, --output <file>', 'write the scenario here (default: standard output)')
    .option('--name <name>', 'scenario name (default: the trace file name)')
    .action((trace: string, opts: { output?: string; name?: string }) => {
      const name = opts.name ?? path.basename(trace).replace(/(\.full)?\.jsonl$/, '');
      const result = scenarioFromTrace(
        parseTrace(fs.readFileSync(trace, 'utf8'), trace),
        name,
        `trace ${path.basename(trace)}`,
      );
      const text = `${JSON.stringify(result, null, 1)}\n`;
      if (opts.output) {
        fs.writeFileSync(opts.output, text);
        process.stderr.write(
          `${opts.output}: ${result.steps.length} config writes, ${Object.keys(result.expected_states).length} /state, ` +
            `${Object.keys(result.expected_monitoring).length} /monitoring\n`,
        );
      } else process.stdout.write(text);
    });
}
