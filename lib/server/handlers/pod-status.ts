import type { PodSandboxStatusRequest__Output } from '../../generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../../generated/runtime/v1/PodSandboxStatusResponse.js';
import { requireField } from '../../util/ids.js';
import { nanosToWire, nowNanos } from '../../util/time.js';
import type { CallContext } from '../context.js';
import type { PodRecord } from '../../sandbox/index.js';
import type { UserNamespace } from '../../generated/runtime/v1/UserNamespace.js';
import { currentPodResources } from '../../sandbox/index.js';
import type { PodSandboxStatus } from '../../generated/runtime/v1/PodSandboxStatus.js';

function usernsOptions(pod: PodRecord): UserNamespace {
  const ns = pod.userNamespace;
  if (!ns) return { mode: 'NODE', uids: [], gids: [] };
  const wire = (m: { containerId: number; hostId: number; size: number }) => ({ container_id: m.containerId, host_id: m.hostId, length: m.size });
  return { mode: 'POD', uids: ns.uids.map(wire), gids: ns.gids.map(wire) };
}

/** A pod's status as PodSandboxStatus reports it (also in container events). */
export function podStatusToWire(pod: PodRecord): PodSandboxStatus {
  const [ip, ...additional] = pod.ips;
  return {
    id: pod.id,
    metadata: pod.metadata,
    state: pod.state,
    created_at: pod.createdAt,
    network: { ip: ip ?? '', additional_ips: additional.map((a) => ({ ip: a })) },
    linux: { namespaces: { options: { network: pod.namespaceOptions.network, pid: pod.namespaceOptions.pid, ipc: pod.namespaceOptions.ipc, target_id: pod.namespaceOptions.targetId, userns_options: usernsOptions(pod) } } },
    labels: pod.labels,
    annotations: pod.annotations,
    runtime_handler: pod.runtimeHandler,
  };
}

export function podStatus(req: PodSandboxStatusRequest__Output, ctx: CallContext): PodSandboxStatusResponse {
  const pod = ctx.services.pods.get(requireField(req.pod_sandbox_id, 'pod_sandbox_id'));
  const response: PodSandboxStatusResponse = { status: podStatusToWire(pod), timestamp: nanosToWire(nowNanos()) };
  if (req.verbose) {
    const { config: _config, ...details } = pod;
    // CRI's PodSandboxStatus carries no resources: the pod-level ones (as last set, and as
    // the pod cgroup reports them) travel here.
    const resources = { ...currentPodResources(pod), cgroup: ctx.services.pods.cgroupLimits(pod) };
    response.info = { info: JSON.stringify({ ...details, resources, podCidr: ctx.services.pods.podCidr() }) };
  }
  return response;
}
