import type { NamespaceOption__Output } from '../../generated/runtime/v1/NamespaceOption.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { OciNamespace } from '../../oci/types.js';
import type { PodContext } from './types.js';

export interface NamespacePlan {
  namespaces: OciNamespace[];
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  /** Whether the container gets a UTS namespace of its own (so runc must set the hostname). */
  ownUts: boolean;
}

/**
 * Namespaces to create or join. The network, IPC and UTS namespaces are the pod's, whatever
 * the container's own options say (as with containerd; crictl and critest often send none for
 * a container of a host-network pod): NODE shares the host's, POD joins the pod's pinned one.
 * The PID namespace is the container's choice: its own, the pod's, the host's, or TARGET,
 * another container's.
 */
export function planNamespaces(opts: NamespaceOption__Output | null | undefined, pod: PodContext, targetPid: number | undefined): NamespacePlan {
  const namespaces: OciNamespace[] = [{ type: 'mount' }];
  const podOpts = pod.config.linux?.security_context?.namespace_options;
  const network = podOpts?.network ?? 'POD';
  const ipc = podOpts?.ipc ?? 'POD';
  const pid = opts?.pid ?? 'CONTAINER';
  const userns = opts?.userns_options;
  if (userns && userns.mode !== 'NODE' && userns.mode !== 'POD') {
    throw new InvalidArgumentError(`userns_options: mode ${userns.mode} is not supported; a container joins its pod's user namespace (POD) or uses the node's (NODE)`);
  }
  if (userns?.mode === 'POD' && !pod.userNamespace) throw new InvalidArgumentError('userns_options: mode POD, but the pod sandbox has no user namespace');
  if (userns?.mode === 'NODE' && pod.userNamespace) throw new InvalidArgumentError("userns_options: mode NODE, but the pod sandbox's namespaces belong to its own user namespace");
  // A user namespace's pod owns the pod's other namespaces: every container joins it.
  if (pod.userNamespace) namespaces.push({ type: 'user', path: pod.userNamespace.path });

  if (network !== 'NODE') namespaces.push(pod.namespaces.network ? { type: 'network', path: pod.namespaces.network } : { type: 'network' });
  if (ipc !== 'NODE') namespaces.push(pod.namespaces.ipc ? { type: 'ipc', path: pod.namespaces.ipc } : { type: 'ipc' });

  let ownUts = false;
  if (network !== 'NODE') {
    if (pod.namespaces.uts) namespaces.push({ type: 'uts', path: pod.namespaces.uts });
    else {
      namespaces.push({ type: 'uts' });
      ownUts = true;
    }
  }

  switch (pid) {
    case 'NODE':
      break;
    case 'POD':
      namespaces.push(pod.namespaces.pid ? { type: 'pid', path: pod.namespaces.pid } : { type: 'pid' });
      break;
    case 'TARGET':
      if (!opts?.target_id) throw new InvalidArgumentError('namespace_options.pid is TARGET but target_id is empty');
      if (!targetPid) throw new InvalidArgumentError(`target container ${opts.target_id} is not running`);
      namespaces.push({ type: 'pid', path: `/proc/${targetPid}/ns/pid` });
      break;
    default:
      namespaces.push({ type: 'pid' });
  }
  return { namespaces, hostNetwork: network === 'NODE', hostIpc: ipc === 'NODE', hostPid: pid === 'NODE', ownUts };
}
