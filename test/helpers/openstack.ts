/**
 * The run's real Keystone + Heat (test/helpers/openstack-setup.ts) for the openstack project's
 * files: `describeOpenStack` skips a file's tests where the tier could not run, and `heatApi`
 * speaks Heat's REST API as the orchestrator's user.
 */
import { attachOpenStack, type RealOpenStack } from '../../infra/openstack/openstack';
import { KeystoneSession } from '../../shared/clients/keystone';

export const openStackSkipped = (): string | undefined =>
  process.env.ESI_OPENSTACK_DIR ? undefined : (process.env.ESI_OPENSTACK_SKIP ?? 'no OpenStack tier in this run');

export const describeOpenStack: jest.Describe = openStackSkipped() ? describe.skip : describe;

export const openStack = (): RealOpenStack => attachOpenStack(process.env.ESI_OPENSTACK_DIR!);

export interface HeatAnswer {
  status: number;
  location?: string;
  // Heat's bodies are read field by field in the tests' expectations.
  body: Record<string, any>;
}

/** A Keystone session of the tier's orchestrator user (public interface). */
export const tierSession = (tier: RealOpenStack = openStack()): KeystoneSession =>
  new KeystoneSession({ authUrl: tier.keystoneUrl, ...tier.credentials, interface: 'public', region: tier.region });

/**
 * Heat's REST API (paths after the catalog's orchestration endpoint, i.e. after /v1/<project>) as
 * the session's user, its token renewed before it expires.
 */
export function heatApi(session: KeystoneSession = tierSession()) {
  const send = async (method: string, path: string, body?: unknown): Promise<HeatAnswer> => {
    const t = await session.token();
    const res = await fetch(`${session.endpointIn(t, 'orchestration')}${path}`, {
      method,
      redirect: 'manual',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Auth-Token': t.token },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Record<string, any>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, any>) : {};
    } catch {
      parsed = { text };
    }
    const location = res.headers.get('location');
    return { status: res.status, ...(location === null ? {} : { location }), body: parsed };
  };
  return { send };
}
