import type { ContainerLifecycle } from '../container/index.js';
import type { SandboxService } from '../sandbox/index.js';
import type { StreamingLookups } from './service.js';

/** Reads what streaming needs from the container and pod services; processes and stdio come from the container's runtime. */
export function streamingLookups(containers: ContainerLifecycle, pods: SandboxService): StreamingLookups {
  return {
    container(id) {
      const c = containers.get(id);
      return {
        id: c.id,
        podId: c.podId,
        running: c.state === 'CONTAINER_RUNNING',
        stdin: c.stdin,
        tty: c.tty,
        exec: (cmd, tty) => containers.exec(c.id, cmd, tty),
        attach: () => containers.attach(c.id),
      };
    },
    pod(id) {
      const p = pods.get(id);
      return { id: p.id, ready: p.state === 'SANDBOX_READY', netnsPath: p.namespaceOptions.network === 'NODE' ? undefined : p.namespacePaths.net };
    },
  };
}
