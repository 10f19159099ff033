/**
 * Comparing a resource's final /state with the recorded one. heat_outputs are compared by
 * structure (the same output keys), since the Heat simulator computes its own values; every
 * other field exactly.
 */
export interface StateCheck {
  key: string;
  ok: boolean;
  expected: string;
  actual: string;
  why?: string;
}

type StateDoc = { state?: Record<string, unknown>; version?: unknown; error?: unknown };

const outputKeys = (text: unknown): string[] | undefined => {
  if (typeof text !== 'string') return undefined;
  try {
    return (JSON.parse(text) as { output_key: string }[]).map((o) => o.output_key).sort();
  } catch {
    return undefined;
  }
};

export function checkState(key: string, expected: StateDoc, actual: StateDoc | undefined): StateCheck {
  const e = expected.state ?? {};
  const summary = (d: StateDoc | undefined) =>
    d ? `${String(d.state?.worker_state)} v${String(d.version)}` : '(none)';
  const base = { key, expected: summary(expected), actual: summary(actual) };
  if (!actual) return { ...base, ok: false, why: 'no /state' };
  const a = actual.state ?? {};
  if (a.worker_state !== e.worker_state || actual.version !== expected.version)
    return {
      ...base,
      ok: false,
      why: typeof actual.error === 'string' && actual.error ? actual.error : 'different state or version',
    };
  if ((actual.error ?? '') !== (expected.error ?? ''))
    return { ...base, ok: false, why: `error: ${String(actual.error)}` };
  for (const field of Object.keys(e)) {
    if (field === 'heat_outputs') {
      if (JSON.stringify(outputKeys(a.heat_outputs)) !== JSON.stringify(outputKeys(e.heat_outputs)))
        return { ...base, ok: false, why: `heat_outputs keys ${JSON.stringify(outputKeys(a.heat_outputs))}` };
    } else if (JSON.stringify(a[field]) !== JSON.stringify(e[field])) {
      return { ...base, ok: false, why: `${field}: ${JSON.stringify(a[field])}` };
    }
  }
  return { ...base, ok: true };
}

/** A /monitoring value against the recorded one: every field exactly; `why` names each difference. */
export function checkMonitoring(key: string, expected: Record<string, unknown>, actual: unknown): StateCheck {
  const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
  const base = { key, expected: show(expected), actual: show(actual) };
  if (typeof actual !== 'object' || actual === null || Array.isArray(actual))
    return { ...base, ok: false, why: 'no /monitoring value' };
  const a = actual as Record<string, unknown>;
  const diffs = [...new Set([...Object.keys(expected), ...Object.keys(a)])]
    .filter((f) => JSON.stringify(a[f]) !== JSON.stringify(expected[f]))
    .map((f) => `${f} ${show(a[f])}, recorded ${show(expected[f])}`);
  return diffs.length ? { ...base, ok: false, why: diffs.join('; ') } : { ...base, ok: true };
}
