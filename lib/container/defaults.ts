import { existsSync, readFileSync, readdirSync, lstatSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import type { OciMount, OciRlimit } from '../oci/types.js';
import { capabilityNames, effectiveMask } from './capabilities.js';
import type { DefaultSeccompProfile, ResolvedDevice, RuntimeDefaults } from './spec/index.js';

/** bundles/ at the repository root, found from this module whether it runs from dist/ or a build dir. */
export function bundlesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bundles', 'base.json'))) return join(dir, 'bundles');
    dir = dirname(dir);
  }
  throw new Error('runcri bundles/ directory not found next to the installed code');
}

interface BaseBundle {
  maskedPaths: string[];
  readonlyPaths: string[];
  mounts: OciMount[];
  rlimits: OciRlimit[];
  env: string[];
}

const RLIMIT_ROWS: Record<string, string> = {
  'Max open files': 'RLIMIT_NOFILE',
  'Max processes': 'RLIMIT_NPROC',
};

/** The daemon's own hard limits from /proc/self/limits (Node has no getrlimit). */
export function daemonHardLimits(limitsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of limitsText.split('\n')) {
    for (const [label, type] of Object.entries(RLIMIT_ROWS)) {
      if (!line.startsWith(label)) continue;
      const hard = line.slice(label.length).trim().split(/\s+/)[1];
      out[type] = hard === 'unlimited' || hard === undefined ? Number.MAX_SAFE_INTEGER : Number(hard);
    }
  }
  return out;
}

/** Default rlimits lowered to what the daemon may hand out (raising past our hard limit fails without CAP_SYS_RESOURCE). */
export function clampRlimits(rlimits: OciRlimit[], hard: Record<string, number>): OciRlimit[] {
  return rlimits.map((r) => {
    const cap = hard[r.type] ?? Number.MAX_SAFE_INTEGER;
    return { type: r.type, hard: Math.min(r.hard, cap), soft: Math.min(r.soft, cap) };
  });
}

const CGROUP2_MAGIC = 0x63677270;

export function loadRuntimeDefaults(config: Config, oomRestriction: { restricted: boolean; own: number }): RuntimeDefaults {
  const dir = bundlesDir();
  const base = JSON.parse(readFileSync(join(dir, 'base.json'), 'utf8')) as BaseBundle;
  const seccompPath = config.runtime.seccomp_profile || join(dir, 'seccomp-default.json');
  const seccomp = JSON.parse(readFileSync(seccompPath, 'utf8')) as DefaultSeccompProfile & { comment?: string };
  delete seccomp.comment;
  const cgroupV2 = statfsSync('/sys/fs/cgroup').type === CGROUP2_MAGIC;
  return {
    capabilities: config.runtime.default_capabilities.map((c) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`)),
    daemonCapabilities: capabilityNames(effectiveMask(readFileSync('/proc/self/status', 'utf8'))),
    seccomp,
    seccompWhenEmpty: config.runtime.seccomp_use_default_when_empty ? 'runtime-default' : 'unconfined',
    maskedPaths: base.maskedPaths,
    readonlyPaths: base.readonlyPaths,
    baseMounts: cgroupV2 ? base.mounts.map((m) => (m.type === 'cgroup' ? { ...m, type: 'cgroup2', source: 'cgroup2' } : m)) : base.mounts,
    rlimits: clampRlimits(base.rlimits, daemonHardLimits(readFileSync('/proc/self/limits', 'utf8'))),
    env: base.env,
    oomRestriction,
    pidsLimit: config.runtime.pids_limit,
    cgroupDriver: config.cgroup_driver,
    cgroupV2,
  };
}

/** A host device node as the spec needs it; a directory yields every device below it. */
export function resolveHostDevices(hostPath: string, containerPath: string, permissions: string): ResolvedDevice[] {
  const st = lstatSync(hostPath);
  if (st.isDirectory()) {
    return readdirSync(hostPath).flatMap((name) => {
      try {
        return resolveHostDevices(join(hostPath, name), join(containerPath, name), permissions);
      } catch {
        return [];
      }
    });
  }
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return [];
  const rdev = st.rdev;
  // glibc's major()/minor() split of a Linux dev_t.
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff);
  return [{ hostPath, containerPath, permissions, type, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid }];
}

/** Every device under /dev except the ones a container gets anyway and the pty multiplexer's children, for `privileged`. */
export function allHostDevices(): ResolvedDevice[] {
  const skip = new Set(['/dev/pts', '/dev/mqueue', '/dev/shm', '/dev/console', '/dev/ptmx', '/dev/tty']);
  const out: ResolvedDevice[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (skip.has(path)) continue;
      try {
        const st = lstatSync(path);
        if (st.isDirectory()) walk(path);
        else out.push(...resolveHostDevices(path, path, 'rwm'));
      } catch {
        // a device that vanished while listing
      }
    }
  };
  walk('/dev');
  return out;
}
