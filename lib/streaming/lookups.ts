import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { ContainerService } from '../container/index.js';
import type { SandboxService } from '../sandbox/index.js';
import type { StreamingLookups } from './service.js';

/**
 * Reads what streaming needs from the container and pod records. conmon keeps each container's
 * attach socket at SOCKET_DIR/ID/attach (a short path: Unix socket paths are limited) and its
 * control FIFO in the bundle.
 */
export function streamingLookups(config: Config, containers: () => ContainerService, pods: () => SandboxService): StreamingLookups {
  return {
    container(id) {
      const c = containers().get(id);
      const handler = config.runtimes[c.runtimeHandler || config.runtime.default_handler];
      return {
        id: c.id,
        podId: c.podId,
        running: c.state === 'CONTAINER_RUNNING',
        bundle: c.bundle,
        runtimePath: handler?.path ?? '',
        runtimeRoot: handler?.root ?? '',
        attachSocket: join(config.state_dir, 'sockets', c.id, 'attach'),
        controlFifo: join(c.bundle, 'ctl'),
        stdin: c.stdin,
        tty: c.tty,
      };
    },
    pod(id) {
      const p = pods().get(id);
      return { id: p.id, ready: p.state === 'SANDBOX_READY', netnsPath: p.namespaceOptions.network === 'NODE' ? undefined : p.namespacePaths.net };
    },
  };
}
