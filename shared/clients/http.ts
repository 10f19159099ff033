// What the clients share: axios that never throws on a status nor follows redirects, and bounded backoff
// retries of RetryableError within a call, behind the container's circuit breakers.
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

/** Consecutive retryable failures that open the circuit, and how long until one trial call. */
export type BreakerSettings = { threshold: number; halfOpenAfterMs: number };

const DEFAULT_BREAKER: BreakerSettings = { threshold: 8, halfOpenAfterMs: 10_000 };
const DEFAULT_RETRY: RetrySettings = { retries: 3, initialDelayMs: 200, maxDelayMs: 2000 };

// Keep-alive: a warm Lambda container reuses its connections; one https agent per private CA bundle.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgents = new Map<string, https.Agent>();
const httpsAgent = (ca = ''): https.Agent => {
  let agent = httpsAgents.get(ca);
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca: [...tls.rootCertificates, ca] } : {}) });
    httpsAgents.set(ca, agent);
  }
  return agent;
};

export function createHttp(timeoutMs: number, caBundle?: string): AxiosInstance {
  return axios.create({
    timeout: timeoutMs,
    maxRedirects: 0,
    validateStatus: () => true,
    httpAgent,
    httpsAgent: httpsAgent(caBundle),
    // axios adds `Content-Type: application/json` to an object body.
    headers: { Accept: 'application/json' },
    // No proxy from the environment: the endpoints are configured explicitly.
    proxy: false,
  });
}

const breakers = new Map<string, CircuitBreakerPolicy>();
/** Breakers of one thing behind an endpoint (a Heat stack): bounded, the least recently used go first. */
const scopedBreakers = new Map<string, CircuitBreakerPolicy>();
const MAX_SCOPED_BREAKERS = 1000;

/** Failures that say the endpoint itself is unreachable, whatever was asked of it. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND']);
const endpointUnreachable = (e: RetryableError): boolean =>
  e.status === undefined && e.code !== undefined && UNREACHABLE.has(e.code);

function breakerFor(
  service: ServiceName,
  endpoint: string,
  s: BreakerSettings,
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

/** Runs `fn` with retries of RetryableError; an open circuit fails at once with RetryableError. */
export type Resilience = <T>(fn: () => Promise<T>) => Promise<T>;

// With `scope` (a Heat stack name) a call passes two breakers: the endpoint's, counting only unreachable-endpoint
// failures, and the scope's, counting all: one stack's faults never open another's.
export function resilience(
  service: ServiceName,
  endpoint: string,
  r: RetrySettings = DEFAULT_RETRY,
  b: BreakerSettings = DEFAULT_BREAKER,
  scope?: string,
): Resilience {
  const breaker: IPolicy =
    scope === undefined
      ? breakerFor(service, endpoint, b)
      : wrap(
          breakerFor(service, endpoint, b, { counts: endpointUnreachable }),
          breakerFor(service, endpoint, b, { scope }),
        );
  const policy = wrap(
    retry(handleType(RetryableError), {
      maxAttempts: r.retries,
      backoff: new ExponentialBackoff({ initialDelay: r.initialDelayMs, maxDelay: r.maxDelayMs }),
    }),
    breaker,
  );
  return async (fn) => {
    try {
      // One trace subsegment per call, its retries inside it.
      return await traced(service, () => policy.execute(fn));
    } catch (err) {
      if (!(err instanceof BrokenCircuitError)) throw err;
      throw new RetryableError(
        `${service}: circuit open for ${endpoint} after repeated failures; not calling it for now`,
        { service, code: 'CIRCUIT_OPEN', cause: err },
      );
    }
  };
}
