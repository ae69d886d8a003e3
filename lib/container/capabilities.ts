/** Linux capability numbers (include/uapi/linux/capability.h) to the names OCI uses. */
const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** Decodes a hex capability mask (as in /proc/PID/status `CapEff:`) into names; bits runc does not know are left out. */
export function capabilityNames(hexMask: string): string[] {
  const mask = BigInt(`0x${hexMask.trim()}`);
  const names: string[] = [];
  CAPABILITY_NAMES.forEach((name, bit) => {
    if ((mask >> BigInt(bit)) & 1n) names.push(name);
  });
  return names;
}

/** The `CapEff` mask of a /proc/PID/status text. */
export function effectiveMask(statusText: string): string {
  const line = statusText.split('\n').find((l) => l.startsWith('CapEff:'));
  if (!line) throw new Error('no CapEff line in /proc/self/status');
  return line.slice('CapEff:'.length).trim();
}
