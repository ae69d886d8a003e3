import { InvalidArgumentError } from '../../errors/index.js';
import type { OciDevice, OciDeviceRule, OciSpec } from '../../oci/types.js';
import { applyCdiEdits } from './cdi.js';
import { planMounts, rootfsPropagation } from './mounts.js';
import { planNamespaces } from './namespaces.js';
import { processArgs, processCwd, processEnv } from './process.js';
import { oomScoreAdj, ociResources } from './resources.js';
import { capabilities, lsmWarnings, seccompChoice, seccompSpec } from './security.js';
import type { ResolvedDevice, SpecInput, SpecResult } from './types.js';
import { containerCgroupsPath } from '../../cgroups/index.js';
import { resolveUser } from './user.js';

export { seccompChoice, type SeccompChoice } from './security.js';
export { resolveUser } from './user.js';
export { ociResources } from './resources.js';
export type * from './types.js';

/**
 * The OCI runtime spec of a container: one pure function of the pod, the request, the image
 * config, what was read from the rootfs and the runtime defaults. Everything that touches the
 * host (stat'ing devices, reading profiles and /etc/passwd) happens before, in the caller.
 */
export function buildSpec(input: SpecInput): SpecResult {
  const { container, image, defaults, pod } = input;
  const sc = container.linux?.security_context ?? null;
  const privileged = sc?.privileged ?? false;
  if (privileged && !pod.config.linux?.security_context?.privileged) {
    throw new InvalidArgumentError('a privileged container needs a privileged pod sandbox');
  }
  const warnings = lsmWarnings(sc);
  const annotations = allowedAnnotations(container.annotations, input.handler?.allowedAnnotations ?? [], warnings);
  const user = resolveUser(sc, image.User, input.identity);
  const caps = capabilities(sc, defaults.capabilities, defaults.daemonCapabilities);
  const ns = planNamespaces(sc?.namespace_options, pod, input.targetPid);
  const readonlyRootfs = sc?.readonly_rootfs ?? false;
  const { mounts, volumeDirs } = planMounts({
    base: defaults.baseMounts,
    privileged,
    readonlyRootfs,
    hostIpc: ns.hostIpc,
    pod,
    request: container.mounts,
    imageVolumes: Object.keys(image.Volumes ?? {}),
    containerDir: input.containerDir,
    recursiveReadOnly: input.handler?.recursiveReadOnlyMounts ?? false,
  });
  const resources = ociResources(container.linux?.resources, { pidsLimit: defaults.pidsLimit, cgroupV2: defaults.cgroupV2 });
  const requested = input.devices.map(deviceNode);
  const hostDevices = privileged && !input.handler?.privilegedWithoutHostDevices;
  const devices = hostDevices ? mergeDevices(input.hostDevices.map(deviceNode), requested) : requested;
  resources.devices = hostDevices
    ? [{ allow: true, access: 'rwm' }]
    : [{ allow: false, access: 'rwm' }, ...input.devices.map(deviceRule)];
  const oomAdj = oomScoreAdj(container.linux?.resources, defaults.oomRestriction);
  const sysctl = sysctls(pod.config.linux?.sysctls ?? {}, ns.hostNetwork, ns.hostIpc);
  const seccomp = seccompSpec(seccompChoice(sc, defaults.seccompWhenEmpty), privileged, defaults.seccomp, caps.bounding, input.localhostSeccomp);

  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: container.tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.groups },
      args: processArgs(container, image),
      env: processEnv(defaults.env, container, image),
      cwd: processCwd(container, image),
      capabilities: caps,
      rlimits: defaults.rlimits.map((r) => ({ ...r })),
      noNewPrivileges: sc?.no_new_privs ?? false,
      ...(oomAdj !== undefined ? { oomScoreAdj: oomAdj } : {}),
    },
    root: { path: input.rootfs, readonly: readonlyRootfs },
    ...(ns.ownUts && pod.config.hostname ? { hostname: pod.config.hostname } : {}),
    mounts,
    annotations: {
      ...annotations,
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.container-name': container.metadata?.name ?? '',
      'io.kubernetes.cri.sandbox-id': pod.id,
    },
    linux: {
      namespaces: ns.namespaces,
      ...(pod.userNamespace ? { uidMappings: pod.userNamespace.uidMappings.map((m) => ({ ...m })), gidMappings: pod.userNamespace.gidMappings.map((m) => ({ ...m })) } : {}),
      resources,
      cgroupsPath: containerCgroupsPath(defaults.cgroupDriver, pod.cgroupParent, input.containerId),
      devices,
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
      ...(privileged ? {} : {
        maskedPaths: sc?.masked_paths.length ? [...sc.masked_paths] : [...defaults.maskedPaths],
        readonlyPaths: sc?.readonly_paths.length ? [...sc.readonly_paths] : [...defaults.readonlyPaths],
      }),
      ...(rootfsPropagation(container.mounts) ? { rootfsPropagation: rootfsPropagation(container.mounts) } : {}),
    },
  };
  // CDI edits come last, over everything else, as CDI prescribes.
  const withCdi = applyCdiEdits(spec, user, input.cdi);
  return { spec: withCdi.spec, user: withCdi.user, volumeDirs, warnings, stopSignal: stopSignal(container.stop_signal, image.StopSignal) };
}

/**
 * Annotation prefixes the OCI runtimes act on (crun's `run.oci.*` can change a container's
 * groups, hooks, seccomp handling, even what runs it; runc's and crun's systemd properties
 * and CRIU settings; the wasm handler switch). The same list cri-o keeps.
 */
export const RUNTIME_ANNOTATIONS = ['run.oci.', 'module.wasm.image/variant', 'org.systemd.property.', 'org.criu.config', 'bundle'];

/**
 * The request's annotations as config.json may carry them: one the runtime acts on is kept
 * only when the handler's `allowed_annotations` holds it or a prefix of it (`run.oci.` allows
 * every crun annotation); kubelet's own annotations, which no runtime reads, pass.
 */
export function allowedAnnotations(requested: Record<string, string>, allowed: readonly string[], warnings: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(requested)) {
    const interpreted = RUNTIME_ANNOTATIONS.some((p) => key.startsWith(p));
    if (interpreted && !allowed.some((a) => key.startsWith(a))) {
      warnings.push(`annotation ${key} is not in the runtime handler's allowed_annotations; it is left out of the container's OCI config`);
      continue;
    }
    out[key] = value;
  }
  return out;
}

function deviceNode(d: ResolvedDevice): OciDevice {
  return { type: d.type, path: d.containerPath, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid };
}

function deviceRule(d: ResolvedDevice): OciDeviceRule {
  const access = d.permissions || 'rwm';
  if (!/^[rwm]+$/.test(access)) throw new InvalidArgumentError(`device ${d.hostPath}: permissions "${access}" must be a combination of r, w and m`);
  return { allow: true, type: d.type, major: d.major, minor: d.minor, access };
}

function mergeDevices(host: OciDevice[], requested: OciDevice[]): OciDevice[] {
  const byPath = new Map(host.map((d) => [d.path, d]));
  for (const d of requested) byPath.set(d.path, d);
  return [...byPath.values()];
}

const IPC_SYSCTLS = /^(kernel\.(shm|msg|sem)|fs\.mqueue\.)/;

/** The pod's sysctls, refused where they would change the host's own namespace. */
function sysctls(requested: Record<string, string>, hostNetwork: boolean, hostIpc: boolean): Record<string, string> {
  for (const key of Object.keys(requested)) {
    if (key.startsWith('net.')) {
      if (hostNetwork) throw new InvalidArgumentError(`sysctl ${key} cannot be set in a pod that uses the host network`);
    } else if (IPC_SYSCTLS.test(key)) {
      if (hostIpc) throw new InvalidArgumentError(`sysctl ${key} cannot be set in a pod that uses the host IPC namespace`);
    } else if (key !== 'kernel.domainname' && key !== 'kernel.hostname') {
      throw new InvalidArgumentError(`sysctl ${key} is not namespaced and cannot be set for a pod`);
    }
  }
  return { ...requested };
}

/** The stop signal: the request's, else the image's STOPSIGNAL, else SIGTERM. */
function stopSignal(requested: string, image: string | undefined): string {
  if (requested && requested !== 'SIGNAL_RUNTIME_DEFAULT') return requested.replace(/^SIGNAL_/, '');
  if (image) {
    const s = image.toUpperCase();
    if (/^\d+$/.test(s)) return s;
    return s.startsWith('SIG') ? s : `SIG${s}`;
  }
  return 'SIGTERM';
}
