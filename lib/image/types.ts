/**
 * The image records runcri keeps and the shapes other modules consume. The `config` part is
 * the OCI image config's `config` object, as CreateContainer needs it.
 */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
}

export interface ImageRecord {
  /** The config digest, `sha256:…`. */
  id: string;
  /** Normalized `domain/path:tag` references. */
  repoTags: string[];
  /** `domain/path@sha256:…`: the digest each repository served the image under. */
  repoDigests: string[];
  /** Bytes the unpacked layers take on disk. */
  size: number;
  /** Chain IDs (`sha256:…`), bottom layer first. */
  layers: string[];
  /** Uncompressed layer digests, bottom first (the config's rootfs.diff_ids). */
  diffIds: string[];
  /** Digests of the manifest (and index, when pulled through one) kept in the content store. */
  blobs: string[];
  config: ImageRuntimeConfig;
  /** os/architecture[/variant] of the pulled manifest. */
  platform: string;
  /** The image config's `created`, when it has one. */
  created?: string;
  /** When runcri committed the record, nanoseconds since the epoch as a decimal string. */
  pulledAt: string;
}

/** Registry credentials: CRI AuthConfig fields, or an entry of a docker config.json. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64(`username:password`). */
  auth?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface FsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}
