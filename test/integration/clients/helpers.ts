/** Clients wired to in-test simulators (loopback, free ports). */
import { KeystoneSession, type KeystoneSessionOptions } from '../../../shared/clients/keystone';
import type { HeatSimulator } from '../../../infra/sim/main';

/** Short backoff so retry tests stay fast; the default budget of 3 retries. */
export const FAST_RETRY = { retries: 3, initialDelayMs: 5, maxDelayMs: 20 };

export function sessionFor(sim: HeatSimulator, extra: Partial<KeystoneSessionOptions> = {}): KeystoneSession {
  const c = sim.credentials;
  return new KeystoneSession({
    authUrl: sim.url, // without /v3: the session adds it, as for an OS_AUTH_URL written either way
    username: c.username,
    password: c.password,
    userDomainName: c.domainName,
    projectName: c.projectName,
    projectDomainName: c.domainName,
    interface: 'public',
    timeoutMs: 5000,
    retry: FAST_RETRY,
    ...extra,
  });
}

/** Captures the simulator's request log lines ("heat-sim METHOD path status"). */
export function requestLog(): { lines: string[]; log: (l: string) => void; since: (n: number) => string[] } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l), since: (n) => lines.slice(n) };
}
