import fs from 'node:fs';
import type { Command } from 'commander';
import { redactText } from '../../shared/log/redact';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put, type Op } from '../../shared/store/store';

/** Runs fn with a store and always closes it, so the command exits promptly. */
export async function withStore<T>(fn: (store: EtcdStore) => Promise<T>): Promise<T> {
  const store = new EtcdStore();
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** Pretty-prints JSON values; other values as they are. Secrets are masked unless asked for. */
function show(value: string, raw: boolean): string {
  const text = raw ? value : redactText(value);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function printKey(store: EtcdStore, key: string, raw: boolean): Promise<void> {
  const kv = await store.get(key);
  if (!kv) throw new Error(`${key}: no such key`);
  process.stdout.write(`${raw ? kv.value : show(kv.value, false)}\n`);
}

/** One unconditional write (the operator's own), reported with the revision it made. */
const writeOne = (key: string, op: Op, done: string) =>
  withStore(async (store) => {
    const res = await store.txn().then(op).commit();
    process.stdout.write(`${key} ${done} at revision ${res.revision}\n`);
  });

export function registerEtcdCommands(program: Command): void {
  program
    .command('get <key>')
    .description('print the value of one key (JSON pretty-printed, secrets masked)')
    .option('--raw', 'print the stored bytes as they are, secrets included')
    .action((key: string, opts: { raw?: boolean }) => withStore((store) => printKey(store, key, opts.raw === true)));

  program
    .command('put <key> <file>')
    .description('write the contents of file ("-" for standard input) to key')
    .action((key: string, file: string) =>
      writeOne(key, put(key, fs.readFileSync(file === '-' ? 0 : file, 'utf8').replace(/\n$/, '')), 'written'),
    );

  program
    .command('del <key>')
    .description('delete one key')
    .action((key: string) => writeOne(key, del(key), 'deleted'));

  program
    .command('ls <prefix>')
    .description('list the keys under prefix with their mod revisions')
    .option('--values', 'print values too (secrets masked)')
    .action((prefix: string, opts: { values?: boolean }) =>
      withStore(async (store) => {
        const { items, revision } = await store.range(prefix);
        for (const kv of items)
          process.stdout.write(
            opts.values ? `${kv.key} @${kv.modRevision}\n${show(kv.value, false)}\n` : `${kv.key} @${kv.modRevision}\n`,
          );
        process.stderr.write(`${items.length} key(s) at revision ${revision}\n`);
      }),
    );
}
