// Client errors as RetryableError or TerminalError (docs/heat-handler.md "Errors"), never carrying a secret:
// messages are redacted, `cause` is a bare copy without axios' request config (headers, body).
import { errorMessage } from '../errors';
import { redactText } from '../log/redact';

export type ServiceName = 'keystone' | 'heat' | 'collector';
type Details = Partial<Pick<ClientError, 'status' | 'code' | 'type' | 'serviceMessage'>> & {
  service: ServiceName;
  cause?: unknown;
};

export abstract class ClientError extends Error {
  readonly service: ServiceName;
  /** HTTP status, when the service answered; else the network error `code`. */
  readonly status: number | undefined;
  readonly code: string | undefined;
  /** The service's error type (Heat's `StackExists`, `ActionInProgress`, …) and text. */
  readonly type: string | undefined;
  readonly serviceMessage: string | undefined;
  abstract readonly retryable: boolean;

  constructor(message: string, d: Details) {
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
const RETRYABLE_CODES = new Set(
  (
    'ECONNREFUSED ECONNRESET ECONNABORTED ETIMEDOUT ESOCKETTIMEDOUT EPIPE EHOSTUNREACH ENETUNREACH ENETDOWN ' +
    'EAI_AGAIN ENOTFOUND ERR_SOCKET_CONNECTION_TIMEOUT ETIMEOUT UND_ERR_SOCKET'
  ).split(' '),
);

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

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The service's error text and type from an error body (Heat, Keystone, collector shapes). */
function errorBodyText(body: unknown): { message?: string | undefined; type?: string | undefined } {
  if (typeof body === 'string') return { message: body.trim().slice(0, 500) || undefined };
  if (!body || typeof body !== 'object') return {};
  const b = body as Record<string, unknown>;
  if (b.error && typeof b.error === 'object') {
    const e = b.error as Record<string, unknown>;
    return { message: (e.message !== '' && str(e.message)) || str(b.explanation), type: str(e.type) ?? str(e.title) };
  }
  return { message: str(b.error) ?? str(b.explanation) ?? str(b.message) };
}

/** Classifies an HTTP answer the client did not expect; `what` names the call (`heat POST /v1/<tenant>/stacks`). */
export function fromResponse(service: ServiceName, what: string, status: number, body: unknown): ClientError {
  const { message, type } = errorBodyText(body);
  const text = `${what}: ${status}${type ? ` ${type}` : ''}${message ? `: ${message}` : ''}`;
  const d = { service, status, type, serviceMessage: message };
  const retryable =
    status >= 500 || status === 429 || status === 408 || (status === 409 && type === 'ActionInProgress');
  return retryable ? new RetryableError(text, d) : new TerminalError(text, d);
}

/** Classifies an error thrown while calling (no answer): network errors and timeouts are retryable. */
export function fromThrown(service: ServiceName, what: string, err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  const code = str((err as { code?: unknown })?.code);
  const msg = errorMessage(err);
  const d = { service, code, cause: err };
  if ((code && RETRYABLE_CODES.has(code)) || /timeout|socket hang up|network error/i.test(msg))
    return new RetryableError(`${what}: ${code ?? 'network error'}: ${msg}`, d);
  return new TerminalError(`${what}: ${code ? `${code}: ` : ''}${msg}`, d);
}
