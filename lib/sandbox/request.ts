import { hostname as hostHostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { checkLinuxResources, checkPodLimits, fromCri, podResources } from '../cgroups/index.js';
import type { Config } from '../config/index.js';
import { InvalidArgumentError } from '../errors/index.js';
import { checkNameLength, checkPathLength } from '../util/limits.js';
import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import { parseQuantity } from './network/index.js';
import type { NamespaceMode, PodPortMapping, PodRecord } from './record.js';
import { planSysctls, type SysctlPlan } from './sysctl.js';
import { planUserNamespace } from './userns.js';
import type { IdMappings } from '../mount/index.js';

/** A RunPodSandbox request, checked: everything that can be refused is refused before anything is made. */
export interface PodPlan {
  config: PodSandboxConfig__Output;
  metadata: PodRecord['metadata'];
  runtimeHandler: string;
  namespaceOptions: PodRecord['namespaceOptions'];
  hostname: string;
  portMappings: PodPortMapping[];
  sysctls: SysctlPlan;
  /** The pod's user namespace mappings (userns_options mode POD); absent: the node's. */
  userNamespace?: IdMappings;
}

/** The key names are unique by: kubelet retries with attempt+1 for a new sandbox of the same pod. */
export function nameKey(m: PodRecord['metadata']): string {
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

export function checkRuntimeHandler(config: Config, handler: string): void {
  if (handler === '' || config.runtimes[handler]) return;
  throw new InvalidArgumentError(`runtime handler "${handler}" is not configured (have: ${Object.keys(config.runtimes).join(', ')})`);
}

/**
 * The pod's name, namespace and UID reach CNI plugins as `K=V;K=V` pairs in CNI_ARGS, which
 * has no escaping: a `;` would add a pair of the caller's choosing (`IP=` asks host-local IPAM
 * for an address) and a `=` makes plugins refuse the whole list. Kubernetes names and UIDs
 * hold neither; NUL cannot be in an environment variable at all.
 */
function checkCniArgValue(field: string, value: string): void {
  if (/[;=\0]/.test(value)) throw new InvalidArgumentError(`${field} "${value.slice(0, 200).replace(/\0/g, '\\0')}" must not contain ";", "=" or NUL`);
}

/** The kernel's HOST_NAME_MAX: sethostname(2) refuses anything longer. */
const HOSTNAME_MAX_BYTES = 64;
/**
 * RFC 1123 host names, as hostname(1) accepts them: a name it refuses would fail the pod late,
 * and one starting with "-" would be read as an option (`--file=…` reads a node file).
 */
const HOSTNAME = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

export function planPod(req: RunPodSandboxRequest__Output, config: Config): PodPlan {
  const pod = req.config;
  if (!pod) throw new InvalidArgumentError('config is required');
  const md = pod.metadata;
  if (!md?.name) throw new InvalidArgumentError('config.metadata.name is required');
  if (!md.uid) throw new InvalidArgumentError('config.metadata.uid is required');
  if (!md.namespace) throw new InvalidArgumentError('config.metadata.namespace is required');
  for (const [field, value] of [['config.metadata.name', md.name], ['config.metadata.namespace', md.namespace], ['config.metadata.uid', md.uid]] as const) {
    checkCniArgValue(field, value);
    checkNameLength(value, field);
  }
  checkRuntimeHandler(config, req.runtime_handler);

  const ns = pod.linux?.security_context?.namespace_options;
  const mode = (m: NamespaceMode | undefined, field: string): NamespaceMode => {
    if (m === 'TARGET') throw new InvalidArgumentError(`namespace_options.${field}: TARGET applies to containers, not to a pod`);
    return m ?? 'POD';
  };
  const network = mode(ns?.network, 'network');
  const pid = ns?.pid ?? 'CONTAINER';
  if (pid === 'TARGET') throw new InvalidArgumentError('namespace_options.pid: TARGET applies to containers, not to a pod');
  const ipc = mode(ns?.ipc, 'ipc');
  const userNamespace = planUserNamespace(pod);

  // A pod that names no hostname gets the node's, as with containerd and cri-o: pod names are
  // often longer than a host name may be (kubelet itself always sends one).
  const hostname = pod.hostname || hostHostname();
  if (Buffer.byteLength(hostname) > HOSTNAME_MAX_BYTES || !HOSTNAME.test(hostname)) {
    throw new InvalidArgumentError(`config.hostname "${hostname.slice(0, 80)}" cannot be a host name: at most ${HOSTNAME_MAX_BYTES} bytes of dot-separated labels of letters, digits and inner "-"`);
  }
  if (pod.log_directory && !isAbsolute(pod.log_directory)) {
    throw new InvalidArgumentError(`config.log_directory "${pod.log_directory.slice(0, 200)}" must be an absolute path`);
  }
  checkPathLength(pod.log_directory, 'config.log_directory');
  checkLinuxResources(pod.linux?.resources, 'config.linux.resources');
  checkLinuxResources(pod.linux?.overhead, 'config.linux.overhead');
  checkPodLimits(podResources(fromCri(pod.linux?.resources), fromCri(pod.linux?.overhead)), 'config.linux');

  const portMappings = pod.port_mappings.map((p, i): PodPortMapping => {
    const inRange = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
    if (!inRange(p.container_port) || !inRange(p.host_port)) throw new InvalidArgumentError(`port_mappings[${i}]: ports are 0-65535`);
    // A mapped host port needs a port to map to: the portmap plugin refuses port 0 late, after the pod is half made.
    if (p.host_port > 0 && p.container_port === 0) throw new InvalidArgumentError(`port_mappings[${i}]: host_port ${p.host_port} maps to container_port 0`);
    return { protocol: p.protocol, containerPort: p.container_port, hostPort: p.host_port, hostIp: p.host_ip };
  });
  for (const key of ['kubernetes.io/ingress-bandwidth', 'kubernetes.io/egress-bandwidth']) {
    const value = pod.annotations[key];
    if (value) parseQuantity(value);
  }
  const sysctls = planSysctls(pod.linux?.sysctls ?? {}, network, ipc);
  return {
    // The record and the containers' specs carry the sysctls by their checked dot-form names.
    config: pod.linux ? { ...pod, linux: { ...pod.linux, sysctls: sysctls.normalized } } : pod,
    metadata: { name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt },
    runtimeHandler: req.runtime_handler,
    namespaceOptions: { network, pid, ipc, targetId: ns?.target_id ?? '' },
    hostname,
    portMappings,
    sysctls,
    ...(userNamespace ? { userNamespace } : {}),
  };
}
