/** How long the demo waits, and the line it shows meanwhile (holds.ts, wait-line.ts, pendingLine). */
import { expectedHolds, settleBudget, SETTLE_MS, templateHolds } from '../../../infra/demo/holds';
import { pendingLine } from '../../../infra/demo/pending';
import type { PlayResult } from '../../../infra/demo/play';
import type { Scenario } from '../../../infra/demo/scenario';
import { plainDisplay, terminalDisplay } from '../../../infra/demo/wait-line';
import type { HeatTemplate } from '../../../shared/planner/types';

const template = (id: string, handler: string, template_file: string): HeatTemplate => ({
  id,
  handler,
  watch: [],
  parameter_mappings: {},
  template_file,
});

// A Heat template with a Liquid-guarded target among other resources, as port.yaml has.
const HEAT = template(
  'thing',
  'heat_worker',
  `heat_template_version: 2013-05-23
resources:
  {% for ip in jinja_ips %}
  iip_{{ forloop.index }}:
    type: OS::ContrailV2::InstanceIp
    properties:
      ip_address: {{ ip }}
  {% endfor %}
  {% if jinja_attached %}
  monitor:
    type: ESI::Monitoring::MonitoringTarget
    properties:
      resource_type: things
      field_name: health
      syncer_properties:
        etcd:
          status:
            key: health
          hold_options:
            positive_status: [UP, DOWN]
            time_seconds: 90
        tsdb:
          traffic.in: {metric: traffic.bps}
  {% endif %}
  other:
    type: OS::Heat::None
`,
);
// A monitoring_worker template: its whole body is the target.
const MONITORING = template(
  'thing_monitoring',
  'monitoring_worker',
  `{%- if attached %}
type: virtual_machine_interface
resource_type: things
resource_id: "{{ id }}"
field_name: health
syncer_properties:
  etcd:
    status:
      key: health
    hold_options:
      positive_status:
        - UP
      time_seconds: 300
{%- endif %}`,
);
const UNHELD = template(
  'other',
  'heat_worker',
  `resources:
  m:
    type: ESI::Monitoring::MonitoringTarget
    properties:
      resource_type: others
      field_name: status
      syncer_properties: {etcd: {status: {key: status}}}
`,
);

test('every target with hold_options, from Heat and monitoring templates alike', () => {
  expect(templateHolds({ HEAT, MONITORING, UNHELD })).toEqual([
    { template: 'thing', resourceType: 'things', fields: ['health'], positive: ['UP', 'DOWN'], seconds: 90 },
    { template: 'thing_monitoring', resourceType: 'things', fields: ['health'], positive: ['UP'], seconds: 300 },
  ]);
});

const scenario = (monitoring: Scenario['expected_monitoring']): Scenario => ({
  name: 's',
  source: 's',
  steps: [],
  expected_states: {},
  expected_monitoring: monitoring,
});

test('a status is held when it is not positive in a target of its resource type and field; the longest hold counts', () => {
  const holds = templateHolds({ HEAT, MONITORING, UNHELD });
  const s = scenario({
    '/monitoring/v2.0/things/a': { version: 2, health: 'FAIL' },
    '/monitoring/v2.0/things/b': { version: 1, health: 'DOWN' },
    '/monitoring/v2.0/things/c': { version: 1, health: 'UP' },
    '/monitoring/v2.0/things/d': null,
    '/monitoring/v2.0/others/e': { version: 1, status: 'FAIL' },
  });
  expect(expectedHolds(s, holds)).toEqual([
    { key: '/monitoring/v2.0/things/a', field: 'health', value: 'FAIL', seconds: 300, template: 'thing_monitoring' },
    { key: '/monitoring/v2.0/things/b', field: 'health', value: 'DOWN', seconds: 300, template: 'thing_monitoring' },
  ]);
  expect(settleBudget(s, { HEAT, MONITORING, UNHELD }).ms).toBe(300_000 + SETTLE_MS);
  expect(settleBudget(scenario({ '/monitoring/v2.0/things/c': { version: 1, health: 'UP' } }), { HEAT }).ms).toBe(
    SETTLE_MS,
  );
});

test("the shipped port templates hold FAIL 210 s: the recorded load-balancer demo's wait", () => {
  const s = scenario({
    '/monitoring/v2.0/ports/p1': { version: 3, vmi: 'FAIL' },
    '/monitoring/v2.0/ports/p2': { version: 6, vmi: 'UP' },
  });
  const { ms, holds } = settleBudget(s);
  expect(holds.map((h) => [h.key, h.seconds])).toEqual([['/monitoring/v2.0/ports/p1', 210]]);
  expect(ms).toBe(210_000 + SETTLE_MS);
});

const result = (pending: { state: number; monitoring: number; jobs: number }): PlayResult => ({
  ok: false,
  checks: [
    ...Array.from({ length: pending.state }, (_, i) => ({ key: `/state/v2.0/x/${i}`, kind: 'state' as const })),
    ...Array.from({ length: pending.monitoring }, (_, i) => ({
      key: `/monitoring/v2.0/ports/p${i}`,
      kind: 'monitoring' as const,
    })),
    { key: '/state/v2.0/x/done', kind: 'state' as const, ok: true },
  ].map((c) => ({ ok: false, expected: '', actual: '', differences: [], ...c })),
  unfinishedJobs: Array.from({ length: pending.jobs }, (_, i) => `/jobs/all/j${i}`),
  dump: {},
});

test('the pending line says what is pending, why, and how long is left', () => {
  const now = 1_000_000;
  const held = (i: number, releaseAt?: number) => ({
    key: `/monitoring/v2.0/ports/p${i}`,
    field: 'vmi',
    value: 'FAIL',
    seconds: 210,
    template: 'port',
    ...(releaseAt === undefined ? {} : { releaseAt }),
  });
  expect(pendingLine(result({ state: 0, monitoring: 2, jobs: 0 }), [held(0), held(1)], 95_400, now)).toBe(
    'waiting for 2 /monitoring values (FAIL held 210 s by hold_options): 96 s left',
  );
  expect(
    pendingLine(
      result({ state: 0, monitoring: 2, jobs: 0 }),
      [held(0, now + 80_000), held(1, now + 90_000)],
      200_000,
      now,
    ),
  ).toBe('waiting for 2 /monitoring values (FAIL held 210 s by hold_options, released in about 90 s): 200 s left');
  expect(pendingLine(result({ state: 16, monitoring: 8, jobs: 32 }), [held(0), held(1)], 389_000, now)).toBe(
    'waiting for 16 /state values, 8 /monitoring values (2 of them FAIL held 210 s by hold_options), 32 unfinished jobs: 389 s left',
  );
  expect(pendingLine(result({ state: 3, monitoring: 1, jobs: 1 }), [], 10_000, now)).toBe(
    'waiting for 3 /state values, 1 /monitoring value, 1 unfinished job: 10 s left',
  );
});

test('off a terminal, one status line every 10 s; log lines always', () => {
  const lines: string[] = [];
  let now = 0;
  const d = plainDisplay(
    (l) => lines.push(l),
    10_000,
    () => now,
  );
  d.status('a');
  now = 9_999;
  d.status('b');
  d.log('job');
  now = 10_000;
  d.status('c');
  expect(lines).toEqual(['a', 'job', 'c']);
});

test('on a terminal, the status line is rewritten in place and kept under the log lines', () => {
  let screen = '';
  const d = terminalDisplay((t) => (screen += t));
  d.status('waiting 2');
  d.status('waiting 1');
  d.log('job done');
  d.end();
  expect(screen).toBe('\r\x1b[2Kwaiting 2\r\x1b[2Kwaiting 1\r\x1b[2Kjob done\nwaiting 1\r\x1b[2K');
});
