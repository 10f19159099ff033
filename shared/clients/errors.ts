/**
 * Errors of the HTTP clients (Keystone, Heat, the monitoring collector), converted at the client
 * boundary into RetryableError (the call may succeed later) or TerminalError (retrying the same
 * request cannot help): docs/heat-handler.md "Errors". Neither ever carries a credential or a
 * token: messages are built from the method, the URL path and the service's text, then redacted,
 * and `cause` is a bare copy of the underlying error without axios' request config, whose headers
 * hold X-Auth-Token and whose body holds the Keystone password.
 */
import { errorMessage } from '../errors';
import { redactText } from '../log/redact';
import { definedOnly } from '../defined-only';

export type ServiceName = 'keystone' | 'heat' | 'collector';

export interface ClientErrorDetails {
  service: ServiceName;
  /** HTTP status, when the service answered. */
  status?: number;
  /** Network error code (ECONNREFUSED, ECONNABORTED, …) when it did not. */
  code?: string;
  /** The service's error type, e.g. Heat's `StackExists`, `ActionInProgress`, `StackValidationFailed`. */
  type?: string;
  /** The service's own error text (Heat: `error.message`, else `explanation`). */
  serviceMessage?: string;
  cause?: unknown;
}

export abstract class ClientError extends Error {
  readonly service: ServiceName;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly type: string | undefined;
  readonly serviceMessage: string | undefined;
  abstract readonly retryable: boolean;

  constructor(message: string, d: ClientErrorDetails) {
    super(redactText(message), d.cause === undefined ? undefined : { cause: sanitizeCause(d.cause) });
    this.service = d.service;
    this.status = d.status;
    this.code = d.code;
    this.type = d.type;
    this.serviceMessage = d.serviceMessage === undefined ? undefined : redactText(d.serviceMessage);
  }
}

export class RetryableError extends ClientError {
  override name = 'RetryableError';
  readonly retryable = true;
}

export class TerminalError extends ClientError {
  override name = 'TerminalError';
  readonly retryable = false;
}

export const isRetryable = (e: unknown): e is RetryableError => e instanceof RetryableError;
export const isTerminal = (e: unknown): e is TerminalError => e instanceof TerminalError;

/** Network error codes after which the same request may well succeed. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ETIMEOUT',
  'UND_ERR_SOCKET',
]);

/** A copy of an error with nothing but its name, code and (masked) message: no request config. */
function sanitizeCause(cause: unknown): Error {
  if (cause instanceof ClientError) return cause;
  const src = cause instanceof Error ? cause : new Error(String(cause));
  const copy = new Error(redactText(src.message)) as Error & { code?: string };
  copy.name = src.name;
  const code = (src as Error & { code?: unknown }).code;
  if (typeof code === 'string') copy.code = code;
  return copy;
}

/** `https://user:pw@host:5000/v3/auth/tokens?x=1` → `https://host:5000/v3/auth/tokens`. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/** The service's error text and type from an error body (Heat, Keystone, collector shapes). */
export function errorBodyText(body: unknown): { message?: string; type?: string } {
  if (typeof body === 'string') return definedOnly({ message: body.trim().slice(0, 500) || undefined });
  if (!body || typeof body !== 'object') return {};
  const b = body as Record<string, unknown>;
  const err = b.error;
  if (err && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    const message =
      typeof e.message === 'string' && e.message !== ''
        ? e.message
        : typeof b.explanation === 'string'
          ? b.explanation
          : undefined;
    return definedOnly({
      message,
      type: typeof e.type === 'string' ? e.type : typeof e.title === 'string' ? e.title : undefined,
    });
  }
  if (typeof err === 'string') return { message: err };
  if (typeof b.explanation === 'string') return { message: b.explanation };
  if (typeof b.message === 'string') return { message: b.message };
  return {};
}

/**
 * Classifies an HTTP answer the client did not expect. `what` names the call
 * (`heat POST /v1/<tenant>/stacks`); it must not hold secrets (it is masked anyway).
 */
export function fromResponse(
  service: ServiceName,
  what: string,
  status: number,
  body: unknown,
): RetryableError | TerminalError {
  const { message, type } = errorBodyText(body);
  const text = `${what}: ${status}${type ? ` ${type}` : ''}${message ? `: ${message}` : ''}`;
  const d: ClientErrorDetails = definedOnly({ service, status, type, serviceMessage: message });
  if (status >= 500 || status === 429 || status === 408 || (status === 409 && type === 'ActionInProgress')) {
    return new RetryableError(text, d);
  }
  return new TerminalError(text, d);
}

/** Classifies an error thrown while calling (no answer): network errors and timeouts are retryable. */
export function fromThrown(service: ServiceName, what: string, err: unknown): RetryableError | TerminalError {
  if (err instanceof ClientError) return err;
  const code = (err as { code?: unknown })?.code;
  const codeStr = typeof code === 'string' ? code : undefined;
  const msg = errorMessage(err);
  const d: ClientErrorDetails = definedOnly({ service, code: codeStr, cause: err });
  if ((codeStr && RETRYABLE_CODES.has(codeStr)) || /timeout|socket hang up|network error/i.test(msg)) {
    return new RetryableError(`${what}: ${codeStr ?? 'network error'}: ${msg}`, d);
  }
  return new TerminalError(`${what}: ${codeStr ? `${codeStr}: ` : ''}${msg}`, d);
}
