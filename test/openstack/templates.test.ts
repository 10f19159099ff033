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
      const missing = Object.keys(declared).filter((p) => !('Default' in declared[p]) && !(p in stackParams));
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
});
