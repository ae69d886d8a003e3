/** CDI specs as runcri reads them, and the container edits they resolve to. */

export type CdiHookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface CdiDeviceNode {
  /** Path in the container. */
  path: string;
  /** Path on the host (default: `path`). */
  hostPath?: string;
  type?: 'b' | 'c' | 'u' | 'p';
  major?: number;
  minor?: number;
  fileMode?: number;
  /** Any of r, w, m; `none` for no cgroup access rule; absent: rwm. */
  permissions?: string;
  uid?: number;
  gid?: number;
}

export interface CdiMount {
  hostPath: string;
  containerPath: string;
  type?: string;
  options: string[];
}

export interface CdiHook {
  hookName: CdiHookName;
  path: string;
  args: string[];
  env: string[];
  timeout?: number;
}

export interface CdiContainerEdits {
  env: string[];
  deviceNodes: CdiDeviceNode[];
  mounts: CdiMount[];
  hooks: CdiHook[];
  additionalGids: number[];
  /** Read so that specs using them load; a device whose edits set them is refused, as runcri applies neither. */
  intelRdt?: Record<string, unknown>;
  netDevices: { hostInterfaceName: string; name: string }[];
}

export interface CdiDevice {
  name: string;
  annotations: Record<string, string>;
  containerEdits: CdiContainerEdits;
}

export interface CdiSpec {
  cdiVersion: string;
  kind: string;
  vendor: string;
  class: string;
  annotations: Record<string, string>;
  devices: CdiDevice[];
  containerEdits: CdiContainerEdits;
}

/** A device node with every fact the OCI spec needs, read from the host where the spec left it out. */
export interface ResolvedDeviceNode {
  path: string;
  hostPath: string;
  type: 'b' | 'c' | 'u' | 'p';
  major: number;
  minor: number;
  fileMode?: number;
  /** The cgroup access to allow; '' for none. */
  access: string;
  uid?: number;
  gid?: number;
}

/**
 * The edits of the requested CDI devices, spec-level ones once per spec that provides any of
 * them, in request order; the spec builder applies them as they are.
 */
export interface CdiEdits {
  /** The qualified names of the devices, in request order. */
  devices: string[];
  env: string[];
  deviceNodes: ResolvedDeviceNode[];
  mounts: CdiMount[];
  hooks: CdiHook[];
  additionalGids: number[];
}
