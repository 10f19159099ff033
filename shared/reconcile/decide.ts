/** The reconciler's pure core: which keys a lost message left standing past the grace (docs/reconciler.md). */
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { decide as decideWaiting } from '../jobs/resolve';
import type { DependencyStatus } from '../jobs/values';
import type { JobRow } from '../jobs/table';

const isReady = (r: JobRow): boolean => !!r.all && !r.waiting && !r.working && !r.finished;

/** Jobs in limbo remembered at most (~100 bytes each in the memory value). */
export const MAX_LIMBO = 2000;

/** Where a re-sent message goes: the queue the relay would have used. */
export type Destination = { queue: 'config' } | { queue: 'finished' } | { queue: 'jobs'; handler: string };

export const destinationId = (to: Destination): string => (to.queue === 'jobs' ? `jobs:${to.handler}` : to.queue);

export interface Repair {
  kind: 'replan' | 'limbo' | 'settle' | 'aggregate' | 'cleanup';
  id: string; // kind, key and the key version it repairs: the same stranded key gives the same id
  key: string;
  why: string;
  send?: { to: Destination; message: EtcdEventMessage }; // absent for `settle` (the lifecycle's settlement)
}

/** A /config resource key (not a heat template); `path` joins it with the other keys; `version` null: unreadable. */
export type ConfigEntry = { key: string; path: string; modRevision: number } & MirrorEntry;
export type MirrorEntry = { version: number | null; deleted: boolean };
export type StateEntry = { version: number | null; modRevision: number };
/** A key the worker owns for one resource: its mirror, stack record or job state. */
export type WorkerKey = { key: string; path: string; configKey: string; modRevision: number };

/** What one consistent, paged read of etcd shows (scan.ts). */
export interface EtcdPicture {
  revision: number;
  configs: ConfigEntry[];
  mirrors: ReadonlyMap<string, MirrorEntry>;
  states: ReadonlyMap<string, StateEntry>;
  workerKeys: WorkerKey[];
  jobs: JobRow[];
  pathsWithJobs: ReadonlySet<string>; // resources with a job under /jobs/all (a chain in flight)
}

/** The memory's view (memory.ts) and each destination's backlog (docs/reconciler.md "A queue still draining"). */
export interface PassInputs extends EtcdPicture {
  graceRevision: number; // keys changed at or below it are older than the grace period
  limboSince: Readonly<Record<string, number>>; // job id → the pass that first saw it in limbo
  repairedAt: Readonly<Record<string, number>>; // repair id → the pass that made it
  backlog: Readonly<Record<string, number>>; // messages waiting by `destinationId` (absent: none)
  backlogGraceRevision: number;
}

/** `awaiting`: repaired less than a grace ago; `deferred`: left to their queue's backlog; `limbo`: for the memory. */
export type PassDecision = { repairs: Repair[]; awaiting: Repair[]; deferred: Repair[]; limbo: Record<string, number> };

/** A candidate repair with the revision it has stood still since (what the backlog grace dates). */
type Found = { repair: Repair; since: number };
type IsOld = (modRevision: number) => boolean;

export function decidePass(inp: PassInputs): PassDecision {
  const old: IsOld = (modRevision) => modRevision <= inp.graceRevision;
  const jobs = jobRepairs(inp, old);
  const found = [...replans(inp, old), ...cleanups(inp, old), ...jobs.found, ...aggregations(inp, old)];
  const decision: PassDecision = { repairs: [], awaiting: [], deferred: [], limbo: jobs.limbo };
  for (const { repair, since } of found) {
    const to = repair.send?.to;
    if ((inp.repairedAt[repair.id] ?? 0) > inp.graceRevision) decision.awaiting.push(repair);
    else if (to && (inp.backlog[destinationId(to)] ?? 0) > 0 && since > inp.backlogGraceRevision)
      decision.deferred.push(repair);
    else decision.repairs.push(repair);
  }
  return decision;
}

/** A /config version not taken in: no mirror at that version, no /state for it. */
function replans(inp: PassInputs, old: IsOld): Found[] {
  return inp.configs
    .filter((c) => old(c.modRevision) && !takenIn(c, inp.mirrors.get(c.path), inp.states.get(c.path)))
    .map((c) => ({
      repair: {
        kind: 'replan',
        id: `replan ${c.key}@${c.modRevision}`,
        key: c.key,
        why: `version ${c.version ?? '?'} not taken in (no mirror at it, no /state for it) since revision ${c.modRevision}`,
        send: { to: { queue: 'config' }, message: { key: c.key, modRevision: c.modRevision, type: 'put' } },
      },
      since: c.modRevision,
    }));
}

/** Worker keys of a resource whose /config key is gone and that has no chain in flight. */
function cleanups(inp: PassInputs, old: IsOld): Found[] {
  const configPaths = new Set(inp.configs.map((c) => c.path));
  const orphans = new Map<string, WorkerKey[]>();
  for (const w of inp.workerKeys)
    if (!configPaths.has(w.path) && !inp.pathsWithJobs.has(w.path))
      orphans.set(w.path, [...(orphans.get(w.path) ?? []), w]);
  return [...orphans.values()]
    .filter((ws) => ws.every((w) => old(w.modRevision)))
    .map((ws) => {
      const configKey = ws[0]!.configKey; // a group is never empty
      const last = Math.max(...ws.map((w) => w.modRevision));
      return {
        repair: {
          kind: 'cleanup',
          id: `cleanup ${configKey}@${last}`,
          key: configKey,
          why: `config key gone; worker keys left: ${ws.map((w) => w.key).join(', ')}`,
          send: { to: { queue: 'config' }, message: { key: configKey, modRevision: inp.revision, type: 'delete' } },
        },
        since: last,
      };
    });
}

/** Waiting jobs that can be settled, and ready jobs nobody claims (limbo, dated by the memory). */
function jobRepairs(inp: PassInputs, old: IsOld): { found: Found[]; limbo: Record<string, number> } {
  const found: Found[] = [];
  const byId = new Map(inp.jobs.map((j) => [j.id, j]));
  const statusOf = (id: string): DependencyStatus => {
    const r = byId.get(id);
    if (r?.finished) return r.finished.status;
    // A job gone from /jobs/all was cleaned up after its chain completed: satisfied (values.ts).
    return r?.all ? { kind: 'pending' } : { kind: 'satisfied' };
  };
  // Jobs already remembered first, so the bound on new ones never drops a first sighting.
  const known = inp.jobs.filter((j) => isReady(j) && j.all?.handler && inp.limboSince[j.id] !== undefined);
  const limbo = Object.fromEntries(known.map((j) => [j.id, inp.limboSince[j.id]!]));
  let inLimbo = Object.keys(limbo).length;
  for (const j of inp.jobs) {
    if (!j.all || j.finished) continue;
    const handler = j.all.handler;
    if (j.waiting && j.all.job) {
      const d = decideWaiting(j.all.job, statusOf);
      // A dependency not finished dates nothing (revision 0 is always old).
      const depsOld = j.all.job.dependency.every((dep) => old(byId.get(dep)?.finished?.modRevision ?? 0));
      if (d.kind === 'wait' || !old(j.waiting.modRevision) || !depsOld) continue;
      const why =
        d.kind === 'promote'
          ? 'waiting, but every dependency is finished: promote'
          : `waiting, but dependency ${d.dependency} failed: fail it`;
      const { key, modRevision } = j.waiting;
      found.push({ repair: { kind: 'settle', id: `settle ${key}@${modRevision}`, key, why }, since: modRevision });
    } else if (isReady(j) && handler) {
      // Limbo: ready since its all key or its dependencies' finishes; past the grace only the memory dates it.
      const readyAfter = Math.max(
        j.all.modRevision,
        ...(j.all.job?.dependency ?? []).map((dep) => byId.get(dep)?.finished?.modRevision ?? 0),
      );
      if (!old(readyAfter)) continue;
      const remembered = inp.limboSince[j.id];
      if (remembered === undefined && inLimbo >= MAX_LIMBO) continue; // dated by a later pass
      const since = remembered ?? inp.revision;
      if (remembered === undefined) inLimbo++;
      limbo[j.id] = since;
      if (!old(since)) continue;
      const { key, modRevision } = j.all;
      const repair: Repair = {
        kind: 'limbo',
        id: `limbo ${key}@${since}`,
        key,
        why: `ready and not claimed since revision ${since} or earlier`,
        send: { to: { queue: 'jobs', handler }, message: { key, modRevision, type: 'put' } },
      };
      found.push({ repair, since: Math.max(readyAfter, since) });
    }
  }
  return { found, limbo };
}

/** A chain whose jobs are all finished is still in etcd only while it is not aggregated. */
function aggregations(inp: PassInputs, old: IsOld): Found[] {
  const chains = new Map<string, JobRow[]>();
  for (const j of inp.jobs) if (j.chain && j.all) chains.set(j.chain, [...(chains.get(j.chain) ?? []), j]);
  const found: Found[] = [];
  for (const [name, jobs] of chains) {
    if (!jobs.every((j) => j.finished && !j.working && old(j.finished.modRevision))) continue;
    // Every job is finished (checked above); a chain is never empty.
    const fin = (jobs.find((j) => j.all?.job?.is_last) ?? jobs.at(-1))!.finished!;
    const finishedBy = Math.max(...jobs.map((j) => j.finished!.modRevision));
    const repair: Repair = {
      kind: 'aggregate',
      id: `aggregate ${fin.key}@${fin.modRevision}`,
      key: fin.key,
      why: `every job of chain ${name} finished by revision ${finishedBy}; not aggregated`,
      send: { to: { queue: 'finished' }, message: { key: fin.key, modRevision: fin.modRevision, type: 'put' } },
    };
    found.push({ repair, since: finishedBy });
  }
  return found;
}

/** Whether the planner took this config version in: a mirror at it, or a /state for it. */
export function takenIn(c: ConfigEntry, mirror: MirrorEntry | undefined, state: StateEntry | undefined): boolean {
  if (mirror && c.version !== null && mirror.version !== null) {
    if (mirror.version > c.version) return true; // an older value: the planner skips it
    if (mirror.version === c.version && mirror.deleted === c.deleted) return true;
  }
  if (!state) return false;
  // A value without a readable version: its PLAN_FAILED /state was written after it.
  return c.version === null ? state.modRevision > c.modRevision : state.version === c.version;
}

/** One relay route's checkpoint and the newest change under its prefix the pass saw (undefined: not read). */
export type RelayPosition = { relay: string; prefix: string; checkpoint: number; newest: number | undefined };

/** Which relay positions are `behind` a change the pass saw, i.e. not forwarded yet (dated with memory.ts). */
export function relayLags(positions: RelayPosition[]) {
  return positions
    .filter((p) => p.newest !== undefined)
    .map((p) => ({ relay: p.relay, prefix: p.prefix, checkpoint: p.checkpoint, behind: p.newest! > p.checkpoint }));
}
