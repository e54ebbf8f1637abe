/**
 * Is the run folder where the compute nodes can read it? Nothing can answer that from the login
 * node; what can be checked is the file system's type (statfs): a network or cluster file system
 * is shared, a local one (ext4, xfs, tmpfs…) is shared only by a one-node cluster. A warning, not
 * a refusal: an element that cannot read its request fails saying so (job.sh).
 */
import * as fs from 'node:fs';

/** statfs magic numbers of the file systems compute nodes share. */
const SHARED: Record<number, string> = {
  0x6969: 'NFS',
  0xff534d42: 'CIFS',
  0xfe534d42: 'SMB2',
  0x0bd00bd0: 'Lustre',
  0x47504653: 'GPFS',
  0x19830326: 'BeeGFS',
  0x00c36400: 'CephFS',
  0x65735546: 'FUSE',
  0x6b414653: 'AFS',
  0x5346414f: 'AFS',
  0xaad7aaea: 'PanFS',
  0x013111a8: 'IBRIX',
};
const LOCAL: Record<number, string> = { 0xef53: 'ext4', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x858458f6: 'ramfs', 0x794c7630: 'overlay', 0x2fc12fc1: 'zfs' };

/** Why `dir` may not be shared with the compute nodes of a cluster of `nodes` nodes, or undefined. */
export function sharedFolderWarning(dir: string, fsType: number | undefined, nodes: number): string | undefined {
  if (nodes <= 1 || fsType === undefined || SHARED[fsType]) return undefined;
  const name = LOCAL[fsType] ?? `type 0x${fsType.toString(16)}`;
  return `the run folder ${dir} is on a local file system (${name}) and the cluster has ${nodes} nodes: compute nodes can read it only if it is shared; an element that cannot fails saying so`;
}

export function fileSystemType(dir: string): number | undefined {
  try {
    return fs.statfsSync(dir).type;
  } catch {
    return undefined;
  }
}
