/**
 * The lease store a command reads: the data root's files (`--data-root DIR`), or etcd (`--etcd URL[,URL…]`,
 * the `leasehold/etcd` store under its default prefix). The etcd3 package is loaded only for `--etcd`; a
 * missing one is EINVALIDCONFIG naming it. The caller closes what it opened with `close()`.
 */
import { createRequire } from 'node:module';
import { LeaseholdError } from '../errors.js';
import { FileLeaseStore } from '../lease/file-store.js';
import type { LeaseStore } from '../lease/store.js';
import { fail, type CliValues } from './main.js';

export interface OpenedStore {
  store: LeaseStore;
  /** The data root, for the file store (its journal directories are there); undefined on etcd. */
  root: string | undefined;
  close(): Promise<void>;
}

export async function openLeaseStore(values: CliValues, o: { createDataRoot: boolean }): Promise<OpenedStore> {
  const urls = values.etcd;
  const dataRoot = values['data-root'];
  if (urls !== undefined && dataRoot !== undefined) fail('give --data-root DIR or --etcd URL, not both');
  if (urls === undefined) {
    if (!dataRoot) fail('--data-root DIR (or --etcd URL) is required');
    const store = new FileLeaseStore({ dataRoot, createDataRoot: o.createDataRoot });
    return { store, root: store.root, close: () => store.close() };
  }
  const hosts = urls.split(',').filter((u) => u !== '');
  if (hosts.length === 0) fail('--etcd needs a URL, e.g. http://127.0.0.1:2379');
  let etcd3: typeof import('etcd3');
  try {
    // A require (the command runs as a bundled script, where import() of a package is not available).
    etcd3 = createRequire(import.meta.url)('etcd3') as typeof import('etcd3');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' && /'etcd3'/.test(String((cause as Error).message));
    throw new LeaseholdError(
      'EINVALIDCONFIG',
      missing ? '--etcd needs the etcd3 package: npm install etcd3' : `cannot load etcd3: ${String(cause)}`,
      {
        field: 'etcd',
        cause,
      },
    );
  }
  const { EtcdLeaseStore } = await import('../lease/etcd-store.js');
  const client = new etcd3.Etcd3({ hosts });
  const store = new EtcdLeaseStore({ client });
  return {
    store,
    root: undefined,
    close: async () => {
      try {
        await store.close();
      } finally {
        client.close();
      }
    },
  };
}
