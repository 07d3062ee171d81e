/**
 * `leasehold/etcd`: the lease store on etcd v3 (lease/etcd-store.ts), for instances on several machines.
 * It needs the `etcd3` package (an optional peer dependency); the rest of leasehold never loads it.
 */
export { EtcdLeaseStore, type EtcdLeaseStoreOptions } from './lease/etcd-store.js';
