import { InvalidArgumentError, isRuntimeError, messageOf } from '../../errors/index.js';
import type { Container } from '../../generated/runtime/v1/Container.js';
import type { ContainerStatus } from '../../generated/runtime/v1/ContainerStatus.js';
import type { ContainerRecord } from '../../container/index.js';

export function containerToWire(c: ContainerRecord): Container {
  return {
    id: c.id,
    pod_sandbox_id: c.podId,
    metadata: c.metadata,
    image: { image: c.image },
    image_ref: c.imageRef,
    image_id: c.imageId,
    state: c.state,
    created_at: c.createdAt,
    labels: c.labels,
    annotations: c.annotations,
  };
}

export function containerStatusToWire(c: ContainerRecord): ContainerStatus {
  return {
    id: c.id,
    metadata: c.metadata,
    state: c.state,
    created_at: c.createdAt,
    started_at: c.startedAt,
    finished_at: c.finishedAt,
    exit_code: c.exitCode,
    image: { image: c.image },
    image_ref: c.imageRef,
    image_id: c.imageId,
    reason: c.reason,
    message: c.message,
    labels: c.labels,
    annotations: c.annotations,
    mounts: c.mounts,
    log_path: c.logPath,
    resources: c.resources ? { linux: c.resources } : null,
    user: { linux: { uid: String(c.user.uid), gid: String(c.user.gid), supplemental_groups: c.user.groups.map(String) } },
    stop_signal: `SIGNAL_${c.stopSignal}` as ContainerStatus['stop_signal'],
  };
}

/**
 * runc's own words when the container's command cannot be run (not found in the image, not
 * executable, a directory; quoted as runc logs it, `exec: \"name\": …`): the request named it, so the caller is told INVALID_ARGUMENT
 * instead of INTERNAL. Any other failure passes through unchanged.
 */
const COMMAND_REFUSED = /exec: \\?"[^"]*": (executable file not found in \$PATH|stat [^:]*: no such file or directory|permission denied|is a directory)|exec format error/;

export function commandRefused(err: unknown): unknown {
  const message = messageOf(err);
  if (isRuntimeError(err) && err.kind !== 'internal') return err;
  return COMMAND_REFUSED.test(message) ? new InvalidArgumentError(`the container's command cannot be run: ${message}`, { cause: err }) : err;
}
