import type { Attachment } from './attach.js';
import type { CheckpointRequest } from './checkpoint.js';
import type { CheckpointSupport } from './criu.js';
import type { ExecProcess } from './exec.js';
import type { OciResources, OciSpec } from './types.js';

export interface ContainerCreateRequest {
  id: string;
  /** The container's name, for the monitor's own logs. */
  name: string;
  spec: OciSpec;
  /** Where the container's output goes, in the CRI log format. */
  logPath: string;
  terminal: boolean;
  stdin: boolean;
  /** Close the container's stdin when the first attached client detaches (CRI stdin_once). */
  stdinOnce: boolean;
}

/** A create whose spec may still be being built. */
export type PendingCreateRequest = Omit<ContainerCreateRequest, 'spec'> & { spec: OciSpec | Promise<OciSpec> };

/** A container created from CRIU images instead of from its command: it runs as soon as it exists. */
export interface ContainerRestoreRequest extends ContainerCreateRequest {
  /** CRIU's image files (runc's descriptors.json among them). */
  imagePath: string;
}

export interface RuntimeState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

/** How a container ended, as its monitor recorded it. */
export type ExitStatus =
  | { state: 'running' }
  | { state: 'exited'; exitCode: number; exitedAt: bigint; oomKilled: boolean }
  /** The monitor and the container are gone and nothing recorded how it ended. */
  | { state: 'lost' };

export interface ExecRequest {
  cmd: string[];
  tty: boolean;
  /** The process gets no input: it reads end of file at once. */
  noStdin?: boolean;
  /**
   * How long the exec holds one of the runtime's exec slots: an ExecSync until it ends (a
   * burst of probes never has more runc processes alive than there are slots), a streaming
   * session until its process has started (an interactive session may last hours).
   */
  holdSlot: 'until-exit' | 'until-started';
  /** A cancelled request leaves the queue for a slot. */
  signal?: AbortSignal;
}

export interface ExecSyncRequest {
  cmd: string[];
  /** 0: no timeout. */
  timeoutMs: number;
  /** Bytes kept of each of stdout and stderr. */
  outputCap: number;
  signal?: AbortSignal;
}

export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

/**
 * The OCI runtime of one runtime handler, and the only way to a container's process: the
 * runtime binary, the monitor that watches each container, and every file either of them
 * keeps (bundle, exit and OOM records, attach socket, control pipe) are its own business.
 * Callers name containers by ID and nothing else.
 */
export interface OciRuntime {
  /**
   * Creates the container from `spec` under a new monitor; resolves with its init's PID on the
   * node. The spec may still be in the making: the monitor starts at once and the container is
   * created when the spec is there, so the monitor's start-up overlaps the caller's work. A
   * spec that fails leaves nothing behind and fails the create with its error.
   */
  create(req: PendingCreateRequest): Promise<number>;
  start(id: string): Promise<void>;
  /** Sends a signal to the container's init; a container already gone is not an error. */
  kill(id: string, signal: string): Promise<void>;
  /** Deletes the container and everything kept for it; one never created (or deleted already) is fine. */
  delete(id: string): Promise<void>;
  state(id: string): Promise<RuntimeState>;
  update(id: string, resources: OciResources): Promise<void>;
  /**
   * How the container ended. A cheap look (one stat) unless `deep`, which also notices a
   * monitor that died without recording an exit.
   */
  exitStatus(id: string, deep?: boolean): ExitStatus;
  /** The spec the container was created with; undefined once it is deleted. */
  spec(id: string): OciSpec | undefined;
  /** Makes the monitor reopen the container's log (after kubelet renamed it) and waits for the new file. */
  reopenLog(id: string, logPath: string): Promise<void>;
  /** Connects to the container's stdio through its monitor, as one of possibly several clients. */
  attach(id: string): Promise<Attachment>;
  /** Starts a process in the running container, with the container's own user, environment and limits. */
  exec(id: string, req: ExecRequest): Promise<ExecProcess>;
  /** Runs a process to its end: a timeout or a cancelled call kills its whole tree and still answers. */
  execSync(id: string, req: ExecSyncRequest): Promise<ExecSyncResult>;
  /** Whether this runtime can checkpoint and restore containers on this node (found once), and why not. */
  checkpointSupport(): Promise<CheckpointSupport>;
  /** Freezes every process of the container (the cgroup freezer). */
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Dumps the container's processes with CRIU into `req.imagePath`. */
  checkpoint(id: string, req: CheckpointRequest): Promise<void>;
  /** Creates the container from CRIU images under a new monitor; it is running when this resolves with its init's PID. */
  restore(req: ContainerRestoreRequest): Promise<number>;
}
