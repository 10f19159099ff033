/**
 * How the Heat simulator's ESI::Monitoring::MonitoringTarget resources reach a collector. In the
 * original deployment the Heat plugin POSTed the target to the collector agents and used the
 * returned id and link; with `collectorUrl` the simulator does the same against the collector
 * simulator. Without it, ids and links are invented so outputs still have their usual shape.
 */
import crypto from 'node:crypto';
import { assertLoopbackUrl, isObject, type Json, type JsonObject } from '../http-util';
import { type MonitoringRegistrar } from './stacks';

export class LocalRegistrar implements MonitoringRegistrar {
  constructor(private readonly monitorer: string) {}

  register(): Promise<{ id: string; link: string }> {
    const id = crypto.randomUUID();
    return Promise.resolve({ id, link: `${this.monitorer}/targets/${id}` });
  }

  async unregister(): Promise<void> {
    /* nothing was registered anywhere */
  }
}

export class CollectorRegistrar implements MonitoringRegistrar {
  private readonly base: string;

  constructor(
    collectorUrl: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.base = assertLoopbackUrl(collectorUrl, 'collectorUrl').toString().replace(/\/$/, '');
  }

  async register(properties: JsonObject): Promise<{ id: string; link: string }> {
    const res = await this.call('POST', '/targets', properties);
    const body = (await res.json().catch(() => null)) as Json;
    if (res.status !== 201 || !isObject(body) || typeof body.id !== 'string') {
      // Heat reports a resource failure with the client exception's text.
      throw new Error(`resources.monitoring_target: collector answered ${res.status} to POST /targets`);
    }
    return { id: body.id, link: typeof body.link === 'string' ? body.link : `${this.base}/targets/${body.id}` };
  }

  async unregister(id: string): Promise<void> {
    const res = await this.call('DELETE', `/targets/${encodeURIComponent(id)}`);
    // A target that is already gone is what a delete wants: Heat ignores NotFound on delete.
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) {
      throw new Error(`resources.monitoring_target: collector answered ${res.status} to DELETE /targets/${id}`);
    }
  }

  private async call(method: string, path: string, body?: JsonObject): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        ...(body ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new Error(`resources.monitoring_target: ConnectionError: ${(err as Error).message}`, { cause: err });
    }
  }
}
