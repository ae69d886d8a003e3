/**
 * What the stats service reads from the rest of runcri. Structural, so the pod and container
 * services satisfy them as they are (or through a one-line adapter in the daemon).
 */

/** A container as the stats calls need it. */
export interface StatsContainer {
  id: string;
  podId: string;
  metadata: { name: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** CRI state name: CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED, CONTAINER_UNKNOWN. */
  state: string;
  /** The image the container runs (reference or ID), for metric labels. */
  image: string;
  /** The container's cgroup directory below each hierarchy's root (`/kubepods/pod…/<id>`); '' when it has none. */
  cgroupPath: string;
  /** The writable layer's upper directory; '' when it has none. */
  upperDir: string;
}

export interface ContainerSource {
  /** By full ID or unique prefix; throws NotFoundError otherwise. */
  get(idOrPrefix: string): StatsContainer;
  list(): StatsContainer[];
}

/** A pod as the stats calls need it (the sandbox service's PodRecord fits). */
export interface StatsPod {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  state: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cgroupPath: string;
  namespacePaths: { net?: string };
}

export interface PodSource {
  /** By full ID or unique prefix; throws NotFoundError otherwise. */
  get(idOrPrefix: string): StatsPod;
  list(): StatsPod[];
}

/** Reads one control file of a cgroup (the cgroups module's CgroupManager fits). */
export interface CgroupFiles {
  readonly layout: { version: 1 | 2 };
  read(path: string, file: string): string | undefined;
  /** Where that file is; undefined when no hierarchy carries its controller. */
  filePath(path: string, file: string): string | undefined;
}
