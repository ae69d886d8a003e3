import type { StatusRequest__Output } from '../../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../../generated/runtime/v1/StatusResponse.js';
import type { CallContext } from '../context.js';
import { cdiRegistry } from '../../cdi/index.js';

/** The CDI devices containers can ask for now, and the spec files that define none (and why). */
function cdiReport(specDirs: readonly string[]): { spec_dirs: readonly string[]; devices: string[]; spec_errors: Record<string, string> } {
  const view = cdiRegistry(specDirs).view();
  return { spec_dirs: specDirs, devices: [...view.devices.keys()].sort(), spec_errors: Object.fromEntries(view.errors) };
}

export function runtimeStatus(req: StatusRequest__Output, ctx: CallContext): StatusResponse {
  const { services } = ctx;
  const runtime = services.runtimeReadiness();
  const network = services.network.status();
  const handlers = services.runtimeHandlers.list();
  const defaultName = services.runtimeHandlers.defaultName();
  const response: StatusResponse = {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: runtime.ready, reason: runtime.reason, message: runtime.message },
        { type: 'NetworkReady', status: network.ready, reason: network.reason, message: network.message },
      ],
    },
    // Features are what a probe container showed (at this start or, for the same binary, an
    // earlier one), never what the handler is assumed to have: one that cannot run here, or
    // is still being probed for the first time, is listed with none.
    runtime_handlers: handlers.flatMap((h) => {
      const features = { recursive_read_only_mounts: h.features.recursiveReadOnlyMounts, user_namespaces: h.features.userNamespaces };
      // The default handler is listed twice, as kubelet looks it up by '' and by its name.
      return h.name === defaultName ? [{ name: '', features }, { name: h.name, features }] : [{ name: h.name, features }];
    }),
    // CreateContainer honours Merge and Strict and reports the effective groups in ContainerStatus.user.
    // Not user_namespaces_host_network (a pod in its own user namespace cannot use the node's network), not
    // mount_options (Mount.mount_options is not applied). The Stream* list RPCs, in-place pod
    // resize and CDI devices have no feature field in CRI: their RPCs and fields just work.
    features: { supplemental_groups_policy: true, user_namespaces_host_network: false, mount_options: false },
  };
  if (req.verbose) {
    response.info = {
      config: JSON.stringify(services.config),
      // The server starts with the first Exec, Attach or PortForward: until then it has no address.
      streaming: JSON.stringify({ address: services.streaming.address, started: services.streaming.address !== '' }),
      // probe: where the answer comes from (`cache`: an earlier start, same binary) and whether a probe runs now.
      runtime_handlers: JSON.stringify(handlers.map((h) => ({ name: h.name, path: h.path, problem: h.problem, userns_problem: h.usernsProblem, features: h.features, probe: h.probe }))),
      cdi: JSON.stringify(cdiReport(services.config.runtime.cdi_spec_dirs)),
    };
  }
  return response;
}
