import type { PodSandboxStatusRequest__Output } from '../../generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../../generated/runtime/v1/PodSandboxStatusResponse.js';
import { requireField } from '../../util/ids.js';
import { nanosToWire, nowNanos } from '../../util/time.js';
import type { CallContext } from '../context.js';

export function podStatus(req: PodSandboxStatusRequest__Output, ctx: CallContext): PodSandboxStatusResponse {
  const pod = ctx.services.pods.get(requireField(req.pod_sandbox_id, 'pod_sandbox_id'));
  const [ip, ...additional] = pod.ips;
  const response: PodSandboxStatusResponse = {
    status: {
      id: pod.id,
      metadata: pod.metadata,
      state: pod.state,
      created_at: pod.createdAt,
      network: { ip: ip ?? '', additional_ips: additional.map((a) => ({ ip: a })) },
      linux: { namespaces: { options: { network: pod.namespaceOptions.network, pid: pod.namespaceOptions.pid, ipc: pod.namespaceOptions.ipc, target_id: pod.namespaceOptions.targetId } } },
      labels: pod.labels,
      annotations: pod.annotations,
      runtime_handler: pod.runtimeHandler,
    },
    timestamp: nanosToWire(nowNanos()),
  };
  if (req.verbose) {
    const { config: _config, ...details } = pod;
    response.info = { info: JSON.stringify({ ...details, podCidr: ctx.services.pods.podCidr() }) };
  }
  return response;
}
