/** A server that fails to start says why: its start error quotes the end of its log (redacted). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnServer, waitUntilReady } from '../../infra/local/processes';

test('a process that exits at start: the error names its log and quotes its last lines, passwords redacted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-start-'));
  const logFile = path.join(dir, 'server.log');
  const script =
    "console.log('listening'); console.error('Error: listen EADDRINUSE 127.0.0.1:3002'); console.log(JSON.stringify({ level: 'ERROR', password: 'hunter2' })); process.exit(1)";
  const p = spawnServer('demo-server', process.execPath, ['-e', script], { logFile });
  try {
    await expect(waitUntilReady(p, () => false, 10_000)).rejects.toThrow(
      `demo-server exited at start; see ${logFile}, which ends:\nlistening\nError: listen EADDRINUSE 127.0.0.1:3002\n{"level":"ERROR","password":"****"}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
