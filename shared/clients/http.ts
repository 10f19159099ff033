/**
 * What the three clients share: an axios instance that never throws on a status and never
 * follows redirects (Heat's look-ups answer 302 and the client resolves them itself), and the
 * resilience policy — bounded exponential-backoff retries of RetryableError inside one call,
 * behind a circuit breaker per endpoint that is shared by every client of the container.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { AxiosInstance } from 'axios';
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitBreakerPolicy,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleType,
  handleWhen,
  IPolicy,
  retry,
  wrap,
} from 'cockatiel';
import { RetryableError, ServiceName } from './errors';
import type { RetrySettings } from './settings';

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

export function createHttp(timeoutMs: number): AxiosInstance {
  return axios.create({
    timeout: timeoutMs,
    maxRedirects: 0,
    validateStatus: () => true,
    httpAgent,
    httpsAgent,
    headers: { Accept: 'application/json' },
    // No automatic proxy from the environment: the endpoints are configured explicitly.
    proxy: false,
  });
}

const breakers = new Map<string, CircuitBreakerPolicy>();

/** The circuit breaker of one endpoint, shared by every client in this container. */
export function breakerFor(
  service: ServiceName,
  endpoint: string,
  s: BreakerSettings = DEFAULT_BREAKER,
): CircuitBreakerPolicy {
  const key = `${service}|${endpoint}|${s.threshold}|${s.halfOpenAfterMs}`;
  let b = breakers.get(key);
  if (!b) {
    // Only this service's own failures count: a Keystone outage must not open Heat's circuit.
    const own = handleWhen((e) => e instanceof RetryableError && e.service === service);
    b = circuitBreaker(own, { halfOpenAfter: s.halfOpenAfterMs, breaker: new ConsecutiveBreaker(s.threshold) });
    breakers.set(key, b);
  }
  return b;
}

export interface Resilience {
  /** Runs `fn` with retries of RetryableError; an open circuit fails at once with RetryableError. */
  execute<T>(fn: () => Promise<T>, opts?: { retry?: boolean }): Promise<T>;
}

export function resilience(
  service: ServiceName,
  endpoint: string,
  r: RetrySettings = DEFAULT_RETRY,
  b?: BreakerSettings,
): Resilience {
  const breaker = breakerFor(service, endpoint, b);
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
        return opts.retry === false ? await breaker.execute(fn) : await retrying.execute(fn);
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          throw new RetryableError(
            `${service}: circuit open for ${endpoint} after repeated failures; not calling it for now`,
            { service, code: 'CIRCUIT_OPEN' },
          );
        }
        throw err;
      }
    },
  };
}
