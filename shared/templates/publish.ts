// Publishes a heat template as Gohan stores it (/config/v2.0/heat_templates/<id>, body escaped JSON); the version
// goes up only when the content changed, each write fenced on the key as read.
import { parseConfigValue, versionOf } from '../gohan/config-value';
import { keys } from '../keys';
import type { HeatTemplate } from '../planner/types';
import { commitDecision, converge } from '../store/converge';
import { put, unchangedSince, type Store } from '../store/store';

const body = (t: HeatTemplate) => ({
  id: t.id,
  handler: t.handler,
  watch: t.watch,
  parameter_mappings: t.parameter_mappings,
  template_file: t.template_file,
});

export async function publishTemplate(store: Store, t: HeatTemplate) {
  const key = keys.heatTemplate(t.id);
  const text = JSON.stringify(body(t));
  return converge(`${key} (publishing)`, async () => {
    const current = await store.get(key);
    const parsed = current ? parseConfigValue(current.value) : undefined;
    const old = parsed?.ok ? parsed.value : undefined;
    if (old && !old.markedForDeletion && JSON.stringify(old.body) === text)
      return { kind: 'unchanged', version: old.version } as const;
    // An unreadable value still has its version counted, so the new one supersedes it.
    const previous = old?.version ?? (current ? (versionOf(current.value) ?? 0) : 0);
    const version = Math.max(previous, 0) + 1;
    const value = JSON.stringify({ body: text, marked_for_deletion: false, version });
    return commitDecision(store, {
      result: { kind: current ? ('updated' as const) : ('created' as const), version },
      when: [unchangedSince(key, current)],
      then: [put(key, value)],
    });
  });
}
