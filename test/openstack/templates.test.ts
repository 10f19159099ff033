/**
 * Every shipped template through real Heat: rendered from its recorded (or constructed) job params
 * (test/fixtures/templates), then `POST /validate` with the job's stack parameters. Heat accepts
 * each one; every job param is a parameter of the template, and every parameter without a
 * default is a job param.
 * port_monitoring is the one template of another handler: a collector target, not HOT.
 */
import { parseHot, renderHotTemplate, splitJobParams } from '../../shared/templates/render';
import { fixture, shipped } from '../unit/templates/helpers';
import { describeOpenStack, heatApi } from '../helpers/openstack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(600_000);

const all = Object.values(shipped());
const heat = all.filter((t) => t.handler === 'heat_worker');

describeOpenStack('templates on real Heat', () => {
  it('every heat template validates with its job params, and fits the job: every job param declared, every required param sent', async () => {
    const api = heatApi();
    const failures: string[] = [];
    const t0 = Date.now();
    for (const t of heat) {
      const { jinjaVars, stackParams } = splitJobParams(fixture(t.id).params);
      let doc: Record<string, unknown>;
      try {
        doc = parseHot(renderHotTemplate(t.template_file, jinjaVars, t.id));
      } catch (err) {
        failures.push(`${t.id}: render: ${(err as Error).message}`);
        continue;
      }
      const res = await api.send('POST', '/validate', { template: doc, environment: { parameters: stackParams } });
      if (res.status !== 200) {
        const error = res.body.error as { type?: string; message?: string } | undefined;
        failures.push(`${t.id}: ${res.status} ${error?.type ?? ''}: ${error?.message ?? JSON.stringify(res.body)}`);
        continue;
      }
      // Heat's view of the template's parameters: each job param is one, and each one without a
      // default is a job param (a parameter with a default may be left to it).
      const declared = (res.body.Parameters ?? {}) as Record<string, { Default?: unknown }>;
      const unknown = Object.keys(stackParams).filter((p) => !(p in declared));
      const missing = Object.entries(declared)
        .filter(([p, param]) => !('Default' in param) && !(p in stackParams))
        .map(([p]) => p);
      if (unknown.length)
        failures.push(`${t.id}: the job sends ${unknown.join(',')}, which the template does not declare`);
      if (missing.length)
        failures.push(`${t.id}: the template requires ${missing.join(',')}, which the job does not send`);
    }
    const n = heat.length - failures.length;
    console.log(
      `templates validated by real Heat: ${n}/${heat.length} heat templates (of ${all.length} shipped; ` +
        `${all.length - heat.length} not HOT: ${all
          .filter((t) => t.handler !== 'heat_worker')
          .map((t) => t.id)
          .join(', ')}) ` +
        `in ${((Date.now() - t0) / 1000).toFixed(1)} s${failures.length ? `\n${failures.join('\n')}` : ''}`,
    );
    expect(failures).toEqual([]);
    expect(n).toBe(51);
  });

  it("every heat template's stack completes on real Heat, with the outputs the template declares", async () => {
    const api = heatApi();
    const failures: string[] = [];
    const t0 = Date.now();
    const createOne = async (t: (typeof heat)[number]) => {
      const { jinjaVars, stackParams } = splitJobParams(fixture(t.id).params);
      const doc = parseHot(renderHotTemplate(t.template_file, jinjaVars, t.id));
      const name = `tpl-${t.id.replace(/_/g, '-')}-${Date.now().toString(36)}`;
      const made = await api.send('POST', '/stacks', { stack_name: name, template: doc, parameters: stackParams });
      const id = (made.body.stack as { id?: string } | undefined)?.id;
      if (made.status !== 201 || !id) {
        const error = made.body.error as { type?: string; message?: string } | undefined;
        failures.push(
          `${t.id}: create ${made.status} ${error?.type ?? ''}: ${error?.message ?? JSON.stringify(made.body)}`,
        );
        return;
      }
      const stack = await waitFor(
        async () => {
          const s = (await api.send('GET', `/stacks/${name}/${id}`)).body.stack as Record<string, any> | undefined;
          return s && !String(s.stack_status).endsWith('_IN_PROGRESS') ? s : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500, what: `${name} created` },
      );
      const declared = Object.keys((doc.outputs as object | undefined) ?? {}).sort();
      const got = ((stack!.outputs as { output_key: string }[] | undefined) ?? []).map((o) => o.output_key).sort();
      if (stack!.stack_status !== 'CREATE_COMPLETE')
        failures.push(`${t.id}: ${stack!.stack_status}: ${stack!.stack_status_reason}`);
      else if (JSON.stringify(got) !== JSON.stringify(declared))
        failures.push(`${t.id}: outputs ${got.join(',')}, the template declares ${declared.join(',')}`);
      await api.send('DELETE', `/stacks/${name}/${id}`);
    };
    // Four at a time: one heat-all engine on a small machine.
    const queue = [...heat];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let t = queue.shift(); t; t = queue.shift()) await createOne(t);
      }),
    );
    console.log(
      `template stacks CREATE_COMPLETE on real Heat: ${heat.length - failures.length}/${heat.length} ` +
        `in ${((Date.now() - t0) / 1000).toFixed(1)} s${failures.length ? `\n${failures.join('\n')}` : ''}`,
    );
    expect(failures).toEqual([]);
  });
});
