/**
 * The reconciler's pure core: from one consistent read of etcd (plain values), what messages were
 * lost, i.e. which keys stand where a message should have moved them on, for longer than the grace
 * period. Each repair re-sends the message the normal pipeline would have sent (or settles waiting
 * jobs through the job lifecycle), so the normal handlers, with their fences, do the work and decide
 * exactly what they would have decided. No I/O; docs/reconciler.md states the rules.
 */
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { decide as decideWaiting } from '../jobs/resolve';
import type { DependencyStatus } from '../jobs/values';
import type { JobRow } from '../jobs/table';

/** Ready (claimable): under `all` and under none of the other job folders (shared/jobs/job-keys.ts). */
const isReady = (r: JobRow): boolean => !!r.all && !r.waiting && !r.working && !r.finished;

/**
 * At most this many jobs in limbo are remembered (about 100 bytes each in the memory value, far
 * below etcd's value limit); with more at once (a queue backlog), the others wait for a pass with room.
 */
export const MAX_LIMBO = 2000;

export type RepairKind = 'replan' | 'limbo' | 'settle' | 'aggregate' | 'cleanup';

/** Where a re-sent message goes: the queue the relay would have used. */
export type Destination = { queue: 'config' } | { queue: 'finished' } | { queue: 'jobs'; handler: string };

/** A destination's name in `PassInputs.backlog`: `config`, `finished`, `jobs:<handler>`. */
export const destinationId = (to: Destination): string => (to.queue === 'jobs' ? `jobs:${to.handler}` : to.queue);

export interface Repair {
  kind: RepairKind;
  /** Names the repair and the key version it repairs: the same stranded key gives the same id. */
  id: string;
  /** The key the repair is about (logged, listed by `esi reconcile --dry-run`). */
  key: string;
  why: string;
  /** The message to re-send; absent for `settle`, which runs the job lifecycle's settlement. */
  send?: { to: Destination; message: EtcdEventMessage };
}

/** A /config resource key (not a heat template), its value's version and logical-delete flag. */
export interface ConfigEntry {
  key: string;
  /** `<scope>/<plural>/<id>`: joins the config key with the mirror, /state and the worker keys. */
  path: string;
  modRevision: number;
  /** null when the value has no readable version (the planner writes PLAN_FAILED with version null). */
  version: number | null;
  deleted: boolean;
}

export interface MirrorEntry {
  version: number | null;
  deleted: boolean;
}

export interface StateEntry {
  version: number | null;
  modRevision: number;
}

/** A key the worker owns for one resource: its mirror, stack record or job state. */
export interface WorkerKey {
  key: string;
  path: string;
  /** The resource's /config key (absent when this key is an orphan). */
  configKey: string;
  modRevision: number;
}

/** What one consistent, paged read of etcd shows (scan.ts reads it). */
export interface EtcdPicture {
  /** The store revision everything was read at. */
  revision: number;
  configs: ConfigEntry[];
  mirrors: ReadonlyMap<string, MirrorEntry>;
  states: ReadonlyMap<string, StateEntry>;
  workerKeys: WorkerKey[];
  jobs: JobRow[];
  /** Paths of resources that still have a job under /jobs/all (a chain in flight). */
  pathsWithJobs: ReadonlySet<string>;
}

export interface PassInputs extends EtcdPicture {
  /** Keys changed at or below this revision are older than the grace period (memory.ts). */
  graceRevision: number;
  /** From memory: job id → revision of the pass that first saw it in limbo. */
  limboSince: Readonly<Record<string, number>>;
  /** From memory: repair id → revision of the pass that made it. */
  repairedAt: Readonly<Record<string, number>>;
  /**
   * Messages waiting in each destination's queue (by `destinationId`; absent: none). A repair
   * into a queue that still holds messages is deferred until its key has stood still past
   * `backlogGraceRevision`: its message is more likely queued than lost.
   */
  backlog: Readonly<Record<string, number>>;
  /** Keys changed at or below this revision are older than the backlog grace (at or below graceRevision). */
  backlogGraceRevision: number;
}

export interface PassDecision {
  repairs: Repair[];
  /** Stranded but repaired less than a grace period ago: left to that repair. */
  awaiting: Repair[];
  /** Stranded, but their queue holds messages and they are younger than the backlog grace. */
  deferred: Repair[];
  /** Every job in limbo now, with its first sighting (the next memory). */
  limbo: Record<string, number>;
}

/** A candidate repair with the revision it has stood still since (what the backlog grace dates). */
type Found = { repair: Repair; since: number };

export function decidePass(inp: PassInputs): PassDecision {
  const old = (modRevision: number) => modRevision <= inp.graceRevision;
  const jobs = jobRepairs(inp, old);
  const found = [...replans(inp, old), ...cleanups(inp, old), ...jobs.found, ...aggregations(inp, old)];
  const limbo = jobs.limbo;
  const decision: PassDecision = { repairs: [], awaiting: [], deferred: [], limbo };
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
function replans(inp: PassInputs, old: (rev: number) => boolean): Found[] {
  const found: Found[] = [];
  const add = (repair: Repair, since: number) => found.push({ repair, since });
  for (const c of inp.configs) {
    if (!old(c.modRevision) || takenIn(c, inp.mirrors.get(c.path), inp.states.get(c.path))) continue;
    add(
      {
        kind: 'replan',
        id: `replan ${c.key}@${c.modRevision}`,
        key: c.key,
        why: `version ${c.version ?? '?'} not taken in (no mirror at it, no /state for it) since revision ${c.modRevision}`,
        send: { to: { queue: 'config' }, message: { key: c.key, modRevision: c.modRevision, type: 'put' } },
      },
      c.modRevision,
    );
  }

  return found;
}

/** Worker keys of a resource whose /config key is gone and that has no chain in flight. */
function cleanups(inp: PassInputs, old: (rev: number) => boolean): Found[] {
  const found: Found[] = [];
  const add = (repair: Repair, since: number) => found.push({ repair, since });
  const configPaths = new Set(inp.configs.map((c) => c.path));
  const orphans = new Map<string, WorkerKey[]>();
  for (const w of inp.workerKeys) {
    if (configPaths.has(w.path) || inp.pathsWithJobs.has(w.path)) continue;
    orphans.set(w.path, [...(orphans.get(w.path) ?? []), w]);
  }
  for (const ws of orphans.values()) {
    const [first] = ws;
    if (!first || !ws.every((w) => old(w.modRevision))) continue;
    const last = Math.max(...ws.map((w) => w.modRevision));
    add(
      {
        kind: 'cleanup',
        id: `cleanup ${first.configKey}@${last}`,
        key: first.configKey,
        why: `config key gone; worker keys left: ${ws.map((w) => w.key).join(', ')}`,
        send: {
          to: { queue: 'config' },
          message: { key: first.configKey, modRevision: inp.revision, type: 'delete' },
        },
      },
      last,
    );
  }

  return found;
}

/** Waiting jobs that can be settled, and ready jobs nobody claims (limbo, dated by the memory). */
function jobRepairs(inp: PassInputs, old: (rev: number) => boolean): { found: Found[]; limbo: Record<string, number> } {
  const found: Found[] = [];
  const add = (repair: Repair, since: number) => found.push({ repair, since });
  const byId = new Map(inp.jobs.map((j) => [j.id, j]));
  const statusOf = (id: string): DependencyStatus => {
    const r = byId.get(id);
    if (r?.finished) return r.finished.status;
    // A job gone from /jobs/all was cleaned up after its chain completed: satisfied (values.ts).
    return r?.all ? { kind: 'pending' } : { kind: 'satisfied' };
  };
  // Jobs already remembered first, so a bound on new ones never drops a first sighting.
  const limbo: Record<string, number> = {};
  for (const j of inp.jobs) {
    const since = inp.limboSince[j.id];
    if (since !== undefined && j.all && isReady(j) && j.all.handler) limbo[j.id] = since;
  }
  let inLimbo = Object.keys(limbo).length;
  for (const j of inp.jobs) {
    if (!j.all || j.finished) continue;
    const handler = j.all.handler;
    if (j.waiting && j.all.job) {
      const d = decideWaiting(j.all.job, statusOf);
      const depsOld = j.all.job.dependency.every((dep) => {
        const f = byId.get(dep)?.finished;
        return !f || old(f.modRevision);
      });
      if (d.kind === 'wait' || !old(j.waiting.modRevision) || !depsOld) continue;
      // No queue: a settlement is never deferred.
      add(
        {
          kind: 'settle',
          id: `settle ${j.waiting.key}@${j.waiting.modRevision}`,
          key: j.waiting.key,
          why:
            d.kind === 'promote'
              ? 'waiting, but every dependency is finished: promote'
              : `waiting, but dependency ${d.dependency} failed: fail it`,
        },
        j.waiting.modRevision,
      );
    } else if (isReady(j) && handler) {
      // Limbo: ready (claimable) and nobody holds it: never claimed (its message was lost), or
      // its claim is gone (lease expired or given back). It became ready at or after its all key's
      // revision and its dependencies' finishes: while that is recent, its message is on its way
      // and nothing is remembered (so a change planned between passes writes no memory). After
      // that no key dates it (an expired claim leaves none), so the pass's memory does.
      const readyAfter = Math.max(
        j.all.modRevision,
        ...(j.all.job?.dependency ?? []).map((dep) => byId.get(dep)?.finished?.modRevision ?? 0),
      );
      if (!old(readyAfter)) continue;
      const remembered = inp.limboSince[j.id];
      // The memory is one etcd value: beyond its bound a job is dated by a later pass.
      if (remembered === undefined && inLimbo >= MAX_LIMBO) continue;
      const since = remembered ?? inp.revision;
      if (remembered === undefined) inLimbo++;
      limbo[j.id] = since;
      if (!old(since)) continue;
      add(
        {
          kind: 'limbo',
          id: `limbo ${j.all.key}@${since}`,
          key: j.all.key,
          why: `ready and not claimed since revision ${since} or earlier`,
          send: {
            to: { queue: 'jobs', handler },
            message: { key: j.all.key, modRevision: j.all.modRevision, type: 'put' },
          },
        },
        Math.max(readyAfter, since),
      );
    }
  }

  return { found, limbo };
}

/** A chain whose jobs are all finished is still in etcd only while it is not aggregated. */
function aggregations(inp: PassInputs, old: (rev: number) => boolean): Found[] {
  const found: Found[] = [];
  const add = (repair: Repair, since: number) => found.push({ repair, since });
  const chains = new Map<string, JobRow[]>();
  for (const j of inp.jobs) {
    const name = j.chain;
    if (!name || !j.all) continue;
    chains.set(name, [...(chains.get(name) ?? []), j]);
  }
  for (const [name, jobs] of chains) {
    if (!jobs.every((j) => j.finished && !j.working && old(j.finished.modRevision))) continue;
    const last = jobs.find((j) => j.all?.job?.is_last) ?? jobs.at(-1);
    if (!last) continue;
    const fin = last.finished!;
    const finishedBy = Math.max(...jobs.map((j) => j.finished!.modRevision));
    add(
      {
        kind: 'aggregate',
        id: `aggregate ${fin.key}@${fin.modRevision}`,
        key: fin.key,
        why: `every job of chain ${name} finished by revision ${finishedBy}; not aggregated`,
        send: { to: { queue: 'finished' }, message: { key: fin.key, modRevision: fin.modRevision, type: 'put' } },
      },
      finishedBy,
    );
  }

  return found;
}

/** Whether the planner took this config version in: a mirror at it, or a /state for it. */
export function takenIn(c: ConfigEntry, mirror: MirrorEntry | undefined, state: StateEntry | undefined): boolean {
  if (mirror && c.version !== null && mirror.version !== null) {
    if (mirror.version > c.version) return true; // an older value: the planner skips it
    if (mirror.version === c.version && mirror.deleted === c.deleted) return true;
  }
  if (state) {
    if (c.version !== null && state.version === c.version) return true;
    // A value without a readable version: its PLAN_FAILED /state was written after it.
    if (c.version === null && state.modRevision > c.modRevision) return true;
  }
  return false;
}

/** One relay checkpoint and the newest change under its prefix the pass saw. */
export interface RelayPosition {
  relay: string;
  prefix: string;
  checkpoint: number;
  /** Highest mod revision of the keys under the prefix; undefined when the pass did not read the prefix. */
  newest: number | undefined;
}

export interface RelayLag {
  relay: string;
  prefix: string;
  checkpoint: number;
  /** Keys under the prefix changed after the checkpoint, i.e. not yet forwarded. */
  behind: boolean;
}

/** Which relay positions are behind a change the pass saw (their lag is dated with memory.ts). */
export function relayLags(positions: RelayPosition[]): RelayLag[] {
  return positions
    .filter((p) => p.newest !== undefined)
    .map((p) => ({ relay: p.relay, prefix: p.prefix, checkpoint: p.checkpoint, behind: p.newest! > p.checkpoint }));
}
