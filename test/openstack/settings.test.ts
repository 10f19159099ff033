/**
 * The deployable OpenStack settings (shared/clients/settings.ts) proven on the real services: the
 * heat handler's own client, configured from the environment as a deployed function is, reaches
 * Heat with (a) an application credential instead of a password, through the internal endpoint
 * of a named region, and (b) a user and project of another Keystone domain, named by
 * ESI_KEYSTONE_USER_DOMAIN / ESI_KEYSTONE_PROJECT_DOMAIN.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeatClient, heatClientFrom } from '../../shared/clients/heat';
import { keystoneSession } from '../../shared/clients/keystone';
import { openstackSettings } from '../../shared/clients/settings';
import { passwordToken, startOpenStack } from '../../infra/openstack/openstack';
import { realOpenStackEnv } from '../../infra/stack/stack';
import { makeTestPki } from '../helpers/tls-certs';
import { waitFor } from '../helpers/wait';
import { describeOpenStack, openStack } from '../helpers/openstack';
import { at } from '../helpers/at';

jest.setTimeout(300_000);

/** Keystone's API as its admin. */
async function keystoneAdmin() {
  const tier = openStack();
  const admin = (JSON.parse(fs.readFileSync(path.join(tier.dataDir, 'secrets.json'), 'utf8')) as { admin: string })
    .admin;
  const { token } = await passwordToken(tier.keystoneUrl, 'admin', admin, 'admin');
  return async (method: string, p: string, body?: unknown, asToken = token) => {
    const res = await fetch(`${tier.keystoneUrl}${p}`, {
      method,
      headers: { 'Content-Type': 'application/json', 'X-Auth-Token': asToken },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
  };
}

/** The handler's Heat client from these settings creates a stack and sees it complete. */
async function createsStack(env: NodeJS.ProcessEnv): Promise<string> {
  const heat = heatClientFrom(openstackSettings(env));
  const name = `settings-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  await heat.createStack({
    name,
    template: {
      heat_template_version: '2015-04-30',
      resources: { n: { type: 'OS::Contrail::VirtualNetwork', properties: { name } } },
    },
    parameters: {},
  });
  const view = await waitFor(
    async () => {
      const v = await heat.showStack(name);
      return v && !v.status.endsWith('_IN_PROGRESS') ? v : undefined;
    },
    { timeoutMs: 60_000, what: `${name} created` },
  );
  await heat.deleteStack(name);
  return view!.status;
}

describeOpenStack('deployable OpenStack settings on real Keystone and Heat', () => {
  it('an application credential (id + secret, no password), the internal endpoint of RegionOne: reads work, creates need Heat without trusts', async () => {
    const tier = openStack();
    const call = await keystoneAdmin();
    const user = await passwordToken(
      tier.keystoneUrl,
      tier.credentials.username,
      tier.credentials.password,
      tier.credentials.projectName,
    );
    const userId = (user.body.user as { id: string }).id;
    const made = await call(
      'POST',
      `/users/${userId}/application_credentials`,
      // Heat makes a trust from the caller's token for every stack (deferred auth): Keystone lets an
      // application credential's token make trusts only when the credential is unrestricted.
      { application_credential: { name: `esi-${Date.now()}`, unrestricted: true } },
      user.token,
    );
    expect(made.status).toBe(201);
    const cred = made.body.application_credential as { id: string; secret: string };
    const env = {
      ESI_KEYSTONE_URL: tier.keystoneUrl,
      ESI_KEYSTONE_APP_CREDENTIAL_ID: cred.id,
      ESI_KEYSTONE_APP_CREDENTIAL_SECRET: cred.secret,
      ESI_HEAT_INTERFACE: 'internal',
      ESI_HEAT_REGION: tier.region,
      ESI_HTTP_TIMEOUT_MS: '20000',
    };
    // Keystone takes the credential and Heat the token: reads work.
    const s = openstackSettings(env);
    const session = keystoneSession(s.keystone, { timeoutMs: s.httpTimeoutMs });
    const heat = new HeatClient({ session, timeoutMs: s.httpTimeoutMs });
    expect(await heat.findStack('no-such-stack')).toBeUndefined();
    expect(await session.endpoint()).toBe(`${tier.heatUrl}/${tier.projectId}`);
    // But Heat's deferred auth (trusts, Zed's default) cannot make a trust from such a token:
    // a stack create is refused (403). Application credentials need Heat without trusts.
    await expect(createsStack(env)).rejects.toThrow(/403 Forbidden/);
    // A wrong secret is refused with a message naming the credential, never the secret.
    await expect(
      createsStack({
        ESI_KEYSTONE_URL: tier.keystoneUrl,
        ESI_KEYSTONE_APP_CREDENTIAL_ID: cred.id,
        ESI_KEYSTONE_APP_CREDENTIAL_SECRET: 'wrong-secret-value',
      }),
    ).rejects.toThrow(new RegExp(`401: authentication rejected for application credential ${cred.id} \\(check`));
  });

  it('Keystone and Heat over HTTPS with a private CA: trusted through ESI_OPENSTACK_CA, refused without it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-openstack-tls-'));
    const pki = makeTestPki(dir);
    const t0 = Date.now();
    const tier = await startOpenStack({
      dataDir: path.join(dir, 'tier'),
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca },
    });
    try {
      const started = (Date.now() - t0) / 1000;
      expect(tier.keystoneUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v3$/);
      const env = {
        ...realOpenStackEnv(tier),
        ESI_OPENSTACK_CA: fs.readFileSync(pki.ca, 'utf8'),
        ESI_HTTP_TIMEOUT_MS: '20000',
      };
      // The catalog's Heat endpoint is HTTPS too: the stack is created through it.
      const s = openstackSettings(env);
      expect(await keystoneSession(s.keystone, { timeoutMs: s.httpTimeoutMs }).endpoint()).toBe(
        `${tier.heatUrl}/${tier.projectId}`,
      );
      expect(tier.heatUrl).toMatch(/^https:/);
      expect(await createsStack(env)).toBe('CREATE_COMPLETE');
      // Without the CA, Node's own CAs do not trust the certificate: a readable refusal.
      const { ESI_OPENSTACK_CA: _ca, ...untrusted } = env;
      await expect(createsStack(untrusted)).rejects.toThrow(/certificate/i);
      console.log(`real Keystone + Heat over HTTPS (test CA): started in ${started.toFixed(1)} s; stack created`);
    } finally {
      await tier.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a user and project in another domain, named by the domain settings', async () => {
    const tier = openStack();
    const call = await keystoneAdmin();
    const suffix = Date.now().toString(36);
    const domain = (await call('POST', '/domains', { domain: { name: `esi-dom-${suffix}` } })).body.domain as {
      id: string;
      name: string;
    };
    const project = (await call('POST', '/projects', { project: { name: 'esi-orchestrator', domain_id: domain.id } }))
      .body.project as { id: string };
    const password = `pw-${suffix}-${Math.random().toString(36).slice(2)}`;
    const user = (await call('POST', '/users', { user: { name: 'esi-worker', domain_id: domain.id, password } })).body
      .user as { id: string };
    const member = at(
      (await call('GET', '/roles?name=member')).body.roles as { id: string }[],
      0,
      'roles named member',
    );
    expect((await call('PUT', `/projects/${project.id}/users/${user.id}/roles/${member.id}`)).status).toBe(204);
    const env = {
      ESI_KEYSTONE_URL: tier.keystoneUrl,
      ESI_KEYSTONE_USERNAME: 'esi-worker',
      ESI_KEYSTONE_PASSWORD: password,
      ESI_KEYSTONE_PROJECT: 'esi-orchestrator',
      ESI_KEYSTONE_USER_DOMAIN: domain.name,
      ESI_KEYSTONE_PROJECT_DOMAIN: domain.name,
    };
    expect(await createsStack(env)).toBe('CREATE_COMPLETE');
    // The Default domain has no such user: refused.
    await expect(createsStack({ ...env, ESI_KEYSTONE_USER_DOMAIN: 'Default' })).rejects.toThrow(
      /401: authentication rejected for user esi-worker/,
    );
  });
});
