import type { StatusRequest__Output } from '../../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../../generated/runtime/v1/StatusResponse.js';
import type { CallContext } from '../context.js';

export function runtimeStatus(req: StatusRequest__Output, ctx: CallContext): StatusResponse {
  const { services } = ctx;
  const runtime = services.runtimeReadiness();
  const network = services.network.status();
  const response: StatusResponse = {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: runtime.ready, reason: runtime.reason, message: runtime.message },
        { type: 'NetworkReady', status: network.ready, reason: network.reason, message: network.message },
      ],
    },
    runtime_handlers: Object.keys(services.config.runtimes).map((name) => ({
      name: name === services.config.runtime.default_handler ? '' : name,
      features: { recursive_read_only_mounts: false, user_namespaces: false },
    })),
    // CreateContainer honours Merge and Strict and reports the effective groups in ContainerStatus.user.
    features: { supplemental_groups_policy: true },
  };
  if (req.verbose) {
    response.info = { config: JSON.stringify(services.config), streaming: JSON.stringify({ address: services.streaming.address }) };
  }
  return response;
}
