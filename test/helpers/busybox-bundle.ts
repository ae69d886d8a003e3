import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

const APPLETS = ['sh', 'sleep', 'echo', 'cat', 'ls', 'id', 'head', 'tr', 'dd', 'grep', 'ps', 'true', 'false', 'printf', 'trap', 'unshare', 'wc', 'mount', 'touch', 'hostname', 'nc', 'kill', 'env', 'pwd', 'test', 'mkdir'];

/** A directory holding a minimal busybox root filesystem, for raw-runtime tests and the bench floor. */
export function makeBusyboxRootfs(parent: string): string {
  const rootfs = mkdtempSync(join(parent, 'rootfs-'));
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root']) mkdirSync(join(rootfs, d));
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
  return rootfs;
}
