/**
 * `esi etcd-roles`: one etcd role per component, each with only the key prefixes it reads or
 * writes (docs/operations.md, "etcd roles"), so a leaked credential of one function cannot touch
 * another's keys. Run as an etcd user that may manage roles (root); it converges: a role that
 * exists gets exactly the permissions below again. `--grant component=user` gives a user its role.
 */
import type { Command } from 'commander';
import { Range, type Etcd3 } from 'etcd3';
import { outputPrefixes } from '../../shared/config';
import {
  CONFIG_PREFIX,
  ESI_WORKER_PREFIX,
  JOBS_PREFIX,
  RECONCILER_MEMORY_KEY,
  RELAY_CHECKPOINT_PREFIX,
} from '../../shared/keys';
import { withStore } from './etcd';

export type Access = 'Read' | 'Write' | 'Readwrite';
/** A prefix (ends with `/`) or one key, and what the role may do there. */
export interface Grant {
  prefix: string;
  access: Access;
}

export const COMPONENTS = [
  'relay',
  'planner',
  'heat',
  'monitoring',
  'aggregator',
  'monitoring-sync',
  'reconciler',
] as const;
export type Component = (typeof COMPONENTS)[number];

/**
 * The key store.revision() reads (a count-only range of one key nobody writes): every component
 * asks for the current revision.
 */
const REVISION_KEY = '\0';

/** Each component's grants; the output prefixes follow ESI_STATE_PREFIX / ESI_MONITORING_PREFIX. */
export function componentGrants(): Record<Component, Grant[]> {
  const { state, monitoring } = outputPrefixes();
  const g = (prefix: string, access: Access): Grant => ({ prefix, access });
  const worker = (folder: string, access: Access) => g(`${ESI_WORKER_PREFIX}${folder}`, access);
  const revision = g(REVISION_KEY, 'Read');
  return {
    // Watches what it forwards; writes only its checkpoint.
    relay: [revision, g(CONFIG_PREFIX, 'Read'), g(JOBS_PREFIX, 'Read'), g(RELAY_CHECKPOINT_PREFIX, 'Readwrite')],
    // Plans: reads config, writes jobs, the mirror, /state; removes a deleted resource's worker keys.
    planner: [
      revision,
      g(CONFIG_PREFIX, 'Read'),
      g(ESI_WORKER_PREFIX, 'Readwrite'),
      g(JOBS_PREFIX, 'Readwrite'),
      g(`${state}/`, 'Readwrite'),
    ],
    // Runs jobs: the job lifecycle, its stack records and job state; reads templates and mirrors.
    heat: [
      revision,
      g(CONFIG_PREFIX, 'Read'),
      g(ESI_WORKER_PREFIX, 'Read'),
      worker('heat_stacks/', 'Readwrite'),
      worker('job_state/', 'Readwrite'),
      g(JOBS_PREFIX, 'Readwrite'),
    ],
    monitoring: [
      revision,
      g(CONFIG_PREFIX, 'Read'),
      g(ESI_WORKER_PREFIX, 'Read'),
      worker('job_state/', 'Readwrite'),
      g(JOBS_PREFIX, 'Readwrite'),
    ],
    // Writes /state and clears a finished chain, its job state and (after a delete) /monitoring.
    aggregator: [
      revision,
      g(CONFIG_PREFIX, 'Read'),
      g(ESI_WORKER_PREFIX, 'Read'),
      worker('job_state/', 'Readwrite'),
      g(JOBS_PREFIX, 'Readwrite'),
      g(`${state}/`, 'Readwrite'),
      g(`${monitoring}/`, 'Readwrite'),
    ],
    'monitoring-sync': [revision, g(`${monitoring}/`, 'Readwrite')],
    // Reads everything it checks; writes its memory and settles waiting jobs.
    reconciler: [
      revision,
      g(CONFIG_PREFIX, 'Read'),
      g(ESI_WORKER_PREFIX, 'Read'),
      g(`${state}/`, 'Read'),
      g(RELAY_CHECKPOINT_PREFIX, 'Read'),
      g(JOBS_PREFIX, 'Readwrite'),
      g(RECONCILER_MEMORY_KEY, 'Readwrite'),
    ],
  };
}

/** The etcd role name of a component. */
export const roleName = (component: Component, prefix = 'esi'): string => `${prefix}-${component}`;

const isPrefix = (p: string) => p.endsWith('/');

/** Creates (or converges) every component's role; gives each named user its role. */
export async function applyEtcdRoles(
  client: Etcd3,
  opts: { rolePrefix?: string; grants?: Partial<Record<Component, string>> } = {},
): Promise<string[]> {
  const done: string[] = [];
  for (const [component, grants] of Object.entries(componentGrants()) as [Component, Grant[]][]) {
    const role = client.role(roleName(component, opts.rolePrefix));
    const existing = await role.permissions().catch((err: Error) => {
      if (/role name not found/i.test(err.message)) return undefined;
      throw err;
    });
    if (existing === undefined) await role.create();
    else if (existing.length) await role.revoke(existing.map((p) => ({ permission: p.permission, range: p.range })));
    await role.grant(
      grants.map((x) =>
        isPrefix(x.prefix)
          ? { permission: x.access, range: Range.prefix(x.prefix) }
          : { permission: x.access, key: x.prefix },
      ),
    );
    const user = opts.grants?.[component];
    if (user) await client.user(user).addRole(role);
    done.push(`${role.name}${user ? ` (user ${user})` : ''}: ${describe(grants)}`);
  }
  return done;
}

const describe = (grants: Grant[]) =>
  grants
    .map((x) => `${x.access.toLowerCase()} ${x.prefix === REVISION_KEY ? '"\\0" (revision)' : x.prefix}`)
    .join(', ');

export function registerEtcdRolesCommand(program: Command): void {
  program
    .command('etcd-roles')
    .description(
      'create or update one etcd role per component (relay, planner, heat, monitoring, aggregator, monitoring-sync, reconciler), each with only its key prefixes; run as an etcd user that manages roles (root)',
    )
    .option('--role-prefix <prefix>', 'role names are <prefix>-<component>', 'esi')
    .option(
      '--grant <component=user...>',
      'give an existing etcd user its component role (repeatable), e.g. --grant planner=esi-planner',
    )
    .option('--print', 'print the roles and their prefixes without touching etcd')
    .action(async (opts: { rolePrefix: string; grant?: string[]; print?: boolean }) => {
      const grants: Partial<Record<Component, string>> = {};
      for (const g of opts.grant ?? []) {
        const [component = '', user] = g.split('=');
        if (!(COMPONENTS as readonly string[]).includes(component) || !user)
          throw new Error(`--grant ${g}: expected <component>=<user>, component one of ${COMPONENTS.join(', ')}`);
        grants[component as Component] = user;
      }
      if (opts.print) {
        for (const [c, list] of Object.entries(componentGrants()))
          process.stdout.write(`${roleName(c as Component, opts.rolePrefix)}: ${describe(list)}\n`);
        return;
      }
      const done = await withStore((store) => applyEtcdRoles(store.client, { rolePrefix: opts.rolePrefix, grants }));
      for (const line of done) process.stdout.write(`${line}\n`);
    });
}
