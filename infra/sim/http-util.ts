/**
 * Small node:http helpers shared by the simulators: body parsing, JSON answers, listening on
 * loopback. Nothing here knows about Heat or the collector.
 */
import http from 'node:http';
import { type AddressInfo } from 'node:net';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value as text in a message or a lookup key: scalars as String() writes them, objects and lists as JSON. */
export const text = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** What a simulator hands back to tests and to the local-stack launcher. */
export interface RunningSimulator {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

export async function readBody(req: http.IncomingMessage, limit = 10 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // A runaway client must not exhaust the test process's memory.
    if (size > limit) throw new HttpError(413, { error: 'request body too large' });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON request body; an empty body is `undefined`, malformed JSON is a 400 built by `onError`. */
export async function readJson(
  req: http.IncomingMessage,
  onError: (msg: string) => HttpError,
): Promise<Json | undefined> {
  const text = await readBody(req);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw onError(`Malformed JSON in request body: ${(err as Error).message}`);
  }
}

export function send(
  res: http.ServerResponse,
  status: number,
  body?: Json | string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, { 'Content-Length': '0', ...headers });
    res.end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/plain; charset=UTF-8' : 'application/json; charset=UTF-8';
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/**
 * An injected delay of an answer. Unref'd: a delay still running when its caller has given up and the
 * test has ended must not keep the process alive (the listening server does, while it runs).
 */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** The simulators only ever talk to this machine: refuse any other host for outgoing calls. */
export function assertLoopbackUrl(raw: string, what: string): URL {
  const url = new URL(raw);
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname)) {
    throw new Error(`${what} must point at loopback, got host ${url.hostname}`);
  }
  return url;
}

/**
 * Starts `handler` on 127.0.0.1:`port` (0 = any free port). `stop()` closes idle keep-alive
 * sockets as well, so a test's afterAll does not hang on a client's pooled connection.
 */
export async function listen(
  port: number,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
  onStop: () => void = () => undefined,
): Promise<{ server: http.Server; port: number; url: string; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) send(res, err.status, err.body, err.headers);
      else send(res, 500, { error: 'simulator error', message: String((err as Error)?.message ?? err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      onStop();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return stopped;
  };
  return { server, port: actual, url: `http://127.0.0.1:${actual}`, stop };
}

/** ISO time in the shape OpenStack services print (no milliseconds: `2018-02-19T05:17:08Z`). */
export const isoSeconds = (t = Date.now()): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Python `json.dumps` text (`", "` and `": "` separators), which is how Heat renders json parameters. */
export function pyDumps(v: Json | undefined): string {
  if (v === undefined || v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(pyDumps).join(', ')}]`;
  if (isObject(v))
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pyDumps(x)}`)
      .join(', ')}}`;
  return JSON.stringify(v);
}
