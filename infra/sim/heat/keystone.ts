/**
 * Keystone v3 password authentication, just enough for a Heat client: POST /v3/auth/tokens
 * (project-scoped), GET /v3/auth/tokens (validation) and the token check every Heat call makes.
 * Bodies and status codes follow the Identity v3 API; the password is compared and never stored
 * in a token, logged or echoed.
 */
import crypto from 'node:crypto';
import { HttpError, isObject, type Json, type JsonObject } from '../http-util';

export interface KeystoneCredentials {
  username: string;
  password: string;
  /** Domain of the user and of the project (name or id both accepted; id is lower case). */
  domainName: string;
  domainId: string;
  userId: string;
  projectName: string;
  projectId: string;
}

export const DEFAULT_CREDENTIALS: KeystoneCredentials = {
  username: 'admin',
  password: 'esi-sim-password',
  domainName: 'Default',
  domainId: 'default',
  userId: 'd1b19dd2b7b04850a0d7c7de8a9aad02',
  projectName: 'admin',
  // The tenant the record's stacks live under (links `/v1/fe3a4a1a…/stacks/...`).
  projectId: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
};

interface Token {
  id: string;
  issuedAt: number;
  expiresAt: number;
  auditId: string;
}

export const unauthorized = (): HttpError =>
  new HttpError(401, {
    error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' },
  });

const badRequest = (message: string): HttpError =>
  new HttpError(400, { error: { code: 400, message, title: 'Bad Request' } });

/** Keystone prints microseconds: `2019-11-09T13:21:08.000000Z`. */
const keystoneTime = (t: number): string => new Date(t).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

const matches = (ref: unknown, name: string, id: string): boolean =>
  isObject(ref) && (ref.id === id || (ref.name === name && ref.id === undefined));

export class Keystone {
  private tokens = new Map<string, Token>();

  constructor(
    private readonly creds: KeystoneCredentials,
    private readonly tokenTtlMs: number,
    /** Base URL of this server; the catalog is built from it at request time. */
    private readonly baseUrl: () => string,
  ) {}

  get projectId(): string {
    return this.creds.projectId;
  }

  /** POST /v3/auth/tokens: the caller answers 201 with these headers (X-Subject-Token) and body. */
  issue(body: Json | undefined): { headers: Record<string, string>; body: JsonObject } {
    const auth = isObject(body) && isObject(body.auth) ? body.auth : undefined;
    const identity = auth && isObject(auth.identity) ? auth.identity : undefined;
    if (!identity)
      throw badRequest(
        'Expecting to find identity in auth. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.',
      );
    const methods = Array.isArray(identity.methods) ? identity.methods : [];
    const password = isObject(identity.password) ? identity.password : undefined;
    const user = password && isObject(password.user) ? password.user : undefined;
    if (!methods.includes('password') || !user) throw unauthorized();
    // A user given by name needs its domain, as in Keystone.
    if (user.id === undefined && !isObject(user.domain))
      throw badRequest(
        'Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.',
      );
    const userOk =
      (user.id === this.creds.userId ||
        (user.name === this.creds.username && matches(user.domain, this.creds.domainName, this.creds.domainId))) &&
      user.password === this.creds.password;
    if (!userOk) throw unauthorized();
    const scope = isObject(auth?.scope) ? auth.scope : undefined;
    const project = scope && isObject(scope.project) ? scope.project : undefined;
    // Heat needs a project-scoped token; an unscoped one would not carry the catalog entry.
    if (!project) throw badRequest('The simulator only issues project-scoped tokens: give auth.scope.project.');
    const projectOk =
      project.id === this.creds.projectId ||
      (project.name === this.creds.projectName && matches(project.domain, this.creds.domainName, this.creds.domainId));
    if (!projectOk) throw unauthorized();

    const now = Date.now();
    const token: Token = {
      id: `gAAAAA${crypto.randomBytes(24).toString('base64url')}`,
      issuedAt: now,
      expiresAt: now + this.tokenTtlMs,
      auditId: crypto.randomBytes(16).toString('base64url').slice(0, 22),
    };
    this.tokens.set(token.id, token);
    return { headers: { 'X-Subject-Token': token.id, Vary: 'X-Auth-Token' }, body: this.tokenBody(token) };
  }

  /** GET /v3/auth/tokens: the caller's X-Auth-Token must be valid; X-Subject-Token is shown or 404. */
  validate(
    authToken: string | undefined,
    subject: string | undefined,
  ): { headers: Record<string, string>; body: JsonObject } {
    this.check(authToken);
    const token = subject ? this.live(subject) : undefined;
    if (!token)
      throw new HttpError(404, {
        error: {
          code: 404,
          message: `Could not find token: ${subject ? subject.slice(0, 8) : ''}…`,
          title: 'Not Found',
        },
      });
    return { headers: { 'X-Subject-Token': token.id }, body: this.tokenBody(token) };
  }

  /** Throws 401 unless `id` names a live token. */
  check(id: string | undefined): void {
    if (!id || !this.live(id)) throw unauthorized();
  }

  /** Expires one token, or every token, so a test can exercise a client's re-authentication. */
  expire(id?: string): number {
    let n = 0;
    for (const t of this.tokens.values()) {
      if (id === undefined || t.id === id) {
        t.expiresAt = Date.now() - 1;
        n += 1;
      }
    }
    return n;
  }

  reset(): void {
    this.tokens.clear();
  }

  stats(): JsonObject {
    const now = Date.now();
    const all = [...this.tokens.values()];
    return { issued: all.length, live: all.filter((t) => t.expiresAt > now).length };
  }

  private live(id: string): Token | undefined {
    const t = this.tokens.get(id);
    return t && t.expiresAt > Date.now() ? t : undefined;
  }

  private tokenBody(t: Token): JsonObject {
    const c = this.creds;
    const base = this.baseUrl();
    const domain = { id: c.domainId, name: c.domainName };
    const endpoints = (url: string, service: string): Json[] =>
      ['public', 'internal', 'admin'].map((iface) => ({
        id: crypto.createHash('md5').update(`${service}/${iface}`).digest('hex'),
        interface: iface,
        region_id: 'RegionOne',
        region: 'RegionOne',
        url,
      }));
    return {
      token: {
        methods: ['password'],
        user: { domain, id: c.userId, name: c.username, password_expires_at: null },
        audit_ids: [t.auditId],
        expires_at: keystoneTime(t.expiresAt),
        issued_at: keystoneTime(t.issuedAt),
        project: { domain, id: c.projectId, name: c.projectName },
        is_domain: false,
        roles: [
          { id: '8aaea39029464511b9a3b3fc30e59224', name: 'reader' },
          { id: '854b2f98700841a1b89f765a451c5408', name: 'member' },
          { id: 'fa454288e5a34b45b1286aa3a3cf90b6', name: 'admin' },
        ],
        catalog: [
          {
            endpoints: endpoints(`${base}/v3`, 'keystone'),
            id: 'c0f1d3a4b8e74c2f9a1b2c3d4e5f6a7b',
            type: 'identity',
            name: 'keystone',
          },
          {
            endpoints: endpoints(`${base}/v1/${c.projectId}`, 'heat'),
            id: '5b5c2d1e0f9a4b8c8d7e6f5a4b3c2d1e',
            type: 'orchestration',
            name: 'heat',
          },
        ],
      },
    };
  }
}
