import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../../infra/local/ports';
import { waitFor } from '../../helpers/wait';
import { http, passwordAuth } from './sim-client';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('infra/sim/main.ts', () => {
  it('starts both simulators on loopback at the ports from the environment, never prints the password, stops on SIGTERM', async () => {
    const [heatPort, collectorPort] = [await freePort(), await freePort()];
    const password = 'p4ss-from-env';
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['infra/sim/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ESI_SIM_HEAT_PORT: String(heatPort),
        ESI_SIM_COLLECTOR_PORT: String(collectorPort),
        ESI_SIM_HEAT_LATENCY_MS: '20',
        ESI_SIM_KEYSTONE_PASSWORD: password,
        ESI_SIM_LOG: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('control'), { timeoutMs: 20_000, what: `simulators to start (output: ${out})` });
      expect(out).toContain(`Keystone v3  http://127.0.0.1:${heatPort}/v3`);
      expect(out).toContain(`collector    http://127.0.0.1:${collectorPort}`);

      const auth = await http.post(
        `http://127.0.0.1:${heatPort}/v3/auth/tokens`,
        passwordAuth('admin', password, { name: 'admin' }),
      );
      expect(auth.status).toBe(201);
      expect((await http.get(`http://127.0.0.1:${collectorPort}/targets`)).data).toEqual([]);
      await waitFor(() => out.includes('POST /v3/auth/tokens 201'), { what: 'request log line' });
      expect(out).not.toContain(password);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('SIGTERM: stopping simulators');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
