/**
 * What the three clients share: an axios instance that never throws on a status and never
 * follows redirects (Heat's look-ups answer 302 and the client resolves them itself), and the
 * resilience policy — bounded exponential-backoff retries of RetryableError inside one call,
 * behind a circuit breaker per endpoint (and per stack for Heat) shared by every client of the container.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import axios, { type AxiosInstance } from 'axios';
import {
  BrokenCircuitError,
  circuitBreaker,
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleType,
  handleWhen,
  type IPolicy,
  retry,
  wrap,
} from 'cockatiel';
import { RetryableError, type ServiceName } from './errors';
import type { RetrySettings } from './settings';
import { traced } from '../tracing';

export interface BreakerSettings {
  /** Consecutive retryable failures that open the circuit. */
  threshold: number;
  /** How long it stays open before one trial call is let through. */
  halfOpenAfterMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { threshold: 8, halfOpenAfterMs: 10_000 };
export const DEFAULT_RETRY: RetrySettings = { retries: 3, initialDelayMs: 200, maxDelayMs: 2000 };

// Keep-alive: a warm Lambda container reuses its connections to Keystone, Heat and the collector.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });

/** One keep-alive agent per private CA bundle (Node's own CAs and the bundle's). */
const caAgents = new Map<string, https.Agent>();
const agentFor = (ca: string): https.Agent => {
  let agent = caAgents.get(ca);
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: [...tls.rootCertificates, ca] });
    caAgents.set(ca, agent);
  }
  return agent;
};

export function createHttp(timeoutMs: number, caBundle?: string): AxiosInstance {
  return axios.create({
    timeout: timeoutMs,
    maxRedirects: 0,
    validateStatus: () => true,
    httpAgent,
    httpsAgent: caBundle ? agentFor(caBundle) : httpsAgent,
    headers: { Accept: 'application/json' },
    // No automatic proxy from the environment: the endpoints are configured explicitly.
    proxy: false,
  });
}

const breakers = new Map<string, CircuitBreakerPolicy>();
/** Breakers of one thing behind an endpoint (a Heat stack): bounded, the least recently used go first. */
const scopedBreakers = new Map<string, CircuitBreakerPolicy>();
const MAX_SCOPED_BREAKERS = 1000;

/** Failures that say the endpoint itself is unreachable, whatever was asked of it. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND']);
export const endpointUnreachable = (e: unknown): boolean =>
  e instanceof RetryableError && e.status === undefined && e.code !== undefined && UNREACHABLE.has(e.code);

/**
 * The circuit breaker of one endpoint (or, with `scope`, of one thing behind it), shared by every
 * client in this container. `counts` narrows which of the service's retryable failures count.
 */
export function breakerFor(
  service: ServiceName,
  endpoint: string,
  s: BreakerSettings = DEFAULT_BREAKER,
  o: { scope?: string; counts?: (e: RetryableError) => boolean } = {},
): CircuitBreakerPolicy {
  const key = `${service}|${endpoint}|${s.threshold}|${s.halfOpenAfterMs}|${o.scope ?? ''}|${o.counts ? 'narrow' : 'all'}`;
  const map = o.scope === undefined ? breakers : scopedBreakers;
  let b = map.get(key);
  if (b && o.scope !== undefined) map.delete(key); // re-inserted below as the most recently used
  if (!b) {
    // Only this service's own failures count: a Keystone outage must not open Heat's circuit.
    const own = handleWhen((e) => e instanceof RetryableError && e.service === service && (o.counts?.(e) ?? true));
    b = circuitBreaker(own, { halfOpenAfter: s.halfOpenAfterMs, breaker: new ConsecutiveBreaker(s.threshold) });
  }
  map.set(key, b);
  if (map.size > MAX_SCOPED_BREAKERS && o.scope !== undefined) map.delete(map.keys().next().value!);
  return b;
}

export interface Resilience {
  /** Runs `fn` with retries of RetryableError; an open circuit fails at once with RetryableError. */
  execute<T>(fn: () => Promise<T>, opts?: { retry?: boolean }): Promise<T>;
}

/**
 * With `scope` (e.g. a Heat stack name), a call passes two breakers: the endpoint's, which counts
 * only failures that mean the endpoint is unreachable, and the scope's own, which counts all: one
 * stack's faults open that stack's circuit, never another stack's.
 */
export function resilience(
  service: ServiceName,
  endpoint: string,
  r: RetrySettings = DEFAULT_RETRY,
  b?: BreakerSettings,
  scope?: string,
): Resilience {
  const breaker: IPolicy =
    scope === undefined
      ? breakerFor(service, endpoint, b)
      : wrap(
          breakerFor(service, endpoint, b, { counts: endpointUnreachable }),
          breakerFor(service, endpoint, b, { scope }),
        );
  const retrying: IPolicy = wrap(
    retry(handleType(RetryableError), {
      maxAttempts: r.retries,
      backoff: new ExponentialBackoff({ initialDelay: r.initialDelayMs, maxDelay: r.maxDelayMs }),
    }),
    breaker,
  );
  return {
    async execute<T>(fn: () => Promise<T>, opts: { retry?: boolean } = {}): Promise<T> {
      try {
        // One subsegment per call (retries inside it): Keystone, Heat, the collector.
        return await traced(service, () => (opts.retry === false ? breaker.execute(fn) : retrying.execute(fn)));
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          throw new RetryableError(
            `${service}: circuit open for ${endpoint} after repeated failures; not calling it for now`,
            { service, code: 'CIRCUIT_OPEN', cause: err },
          );
        }
        throw err;
      }
    },
  };
}
