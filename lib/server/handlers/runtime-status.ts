import type { StatusRequest__Output } from '../../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../../generated/runtime/v1/StatusResponse.js';
import type { CallContext } from '../context.js';

export function runtimeStatus(req: StatusRequest__Output, ctx: CallContext): StatusResponse {
  const { services } = ctx;
  const runtime = services.runtimeReadiness();
  const network = services.network.status();
  const handlers = services.handlers.list();
  const defaultName = services.handlers.defaultName();
  const response: StatusResponse = {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: runtime.ready, reason: runtime.reason, message: runtime.message },
        { type: 'NetworkReady', status: network.ready, reason: network.reason, message: network.message },
      ],
    },
    // Features are what a probe container showed, never what the handler is assumed to have:
    // one that cannot run here is listed with none.
    runtime_handlers: handlers.flatMap((h) => {
      const features = { recursive_read_only_mounts: h.features.recursiveReadOnlyMounts, user_namespaces: h.features.userNamespaces };
      // The default handler is listed twice, as kubelet looks it up by '' and by its name.
      return h.name === defaultName ? [{ name: '', features }, { name: h.name, features }] : [{ name: h.name, features }];
    }),
    // CreateContainer honours Merge and Strict and reports the effective groups in ContainerStatus.user.
    features: { supplemental_groups_policy: true },
  };
  if (req.verbose) {
    response.info = {
      config: JSON.stringify(services.config),
      streaming: JSON.stringify({ address: services.streaming.address }),
      runtime_handlers: JSON.stringify(handlers.map((h) => ({ name: h.name, path: h.config.path, problem: h.problem, userns_problem: h.usernsProblem, features: h.features }))),
    };
  }
  return response;
}
