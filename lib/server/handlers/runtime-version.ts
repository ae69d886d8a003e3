import type { VersionRequest__Output } from '../../generated/runtime/v1/VersionRequest.js';
import type { VersionResponse } from '../../generated/runtime/v1/VersionResponse.js';
import type { CallContext } from '../context.js';

/** The CRI API version kubelet asks about; this is what runcri speaks. */
const KUBELET_API_VERSION = '0.1.0';

export function runtimeVersion(_req: VersionRequest__Output, ctx: CallContext): VersionResponse {
  return {
    version: KUBELET_API_VERSION,
    runtime_name: 'runcri',
    runtime_version: ctx.services.version,
    runtime_api_version: 'v1',
  };
}
