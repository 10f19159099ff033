/** One stack output as Heat shows it and as `/esi-worker/heat_stacks/...` stores it. */
export type HeatOutput = { output_key: string; output_value: unknown; description: string };
