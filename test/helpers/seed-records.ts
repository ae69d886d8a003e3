/**
 * Writes pod and container records straight into a root's state database, as a daemon that
 * had run them would have left them: stopped pods and exited containers, with the labels and
 * annotations kubelet puts on real ones. A daemon started on that root recovers them as they
 * are, so list calls can be tried at node scale without running thousands of containers.
 */
import { join } from 'node:path';
import { StateStore } from '../../lib/state/index.js';
import type { PodRecord } from '../../lib/sandbox/index.js';
import type { ContainerRecord } from '../../lib/container/index.js';

export interface Seeded {
  podIds: string[];
  containerIds: string[];
}

function hexId(prefix: string, n: number): string {
  return `${prefix}${n.toString(16)}`.padStart(64, '0');
}

function podRecord(id: string, n: number, base: string): PodRecord {
  const metadata = { name: `seed-pod-${n}`, uid: `uid-seed-${n}`, namespace: n % 2 ? 'team-a' : 'team-b', attempt: 0 };
  return {
    id, metadata, state: 'SANDBOX_NOTREADY', createdAt: String(1_700_000_000_000_000_000n + BigInt(n)),
    labels: { app: `app-${n % 10}`, 'io.kubernetes.pod.name': metadata.name, 'io.kubernetes.pod.namespace': metadata.namespace, 'io.kubernetes.pod.uid': metadata.uid },
    annotations: { 'kubernetes.io/config.seen': '2025-01-01T00:00:00.000000000Z', 'kubernetes.io/config.source': 'api' },
    runtimeHandler: '', namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' }, namespacePaths: {},
    cgroupParent: `/rct-seed/pod${id}`, cgroupPath: `/rct-seed/pod${id}`, hostname: metadata.name,
    hostnamePath: join(base, 'pods', id, 'hostname'), resolvConfPath: join(base, 'pods', id, 'resolv.conf'), hostsPath: join(base, 'pods', id, 'hosts'),
    logDirectory: '', ips: [], portMappings: [], privileged: false, sysctls: {}, supplementalGroups: [], securityContext: null,
    config: { metadata, hostname: metadata.name, log_directory: '', dns_config: null, port_mappings: [], labels: {}, annotations: {}, linux: null, windows: null } as unknown as PodRecord['config'],
    lifecycle: { phase: 'stopped', podDir: join(base, 'pods', id), networkAttached: false, cgroupCreated: [] },
  };
}

function containerRecord(id: string, pod: PodRecord, n: number, base: string): ContainerRecord {
  const name = `seed-ctr-${n}`;
  return {
    id, podId: pod.id, metadata: { name, attempt: 0 }, phase: 'ready', state: 'CONTAINER_EXITED',
    image: 'registry.example/team/app:v1', imageRef: `registry.example/team/app@sha256:${'ab'.repeat(32)}`, imageId: `sha256:${'cd'.repeat(32)}`,
    labels: {
      'io.kubernetes.container.name': name, 'io.kubernetes.pod.name': pod.metadata.name,
      'io.kubernetes.pod.namespace': pod.metadata.namespace, 'io.kubernetes.pod.uid': pod.metadata.uid, tier: n % 5 === 0 ? 'db' : 'web',
    },
    annotations: {
      'io.kubernetes.container.hash': (n * 2654435761 % 4294967296).toString(16), 'io.kubernetes.container.restartCount': '0',
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log', 'io.kubernetes.container.terminationMessagePolicy': 'File',
      'io.kubernetes.pod.terminationGracePeriod': '30',
    },
    createdAt: String(1_700_000_000_100_000_000n + BigInt(n)), startedAt: String(1_700_000_000_200_000_000n + BigInt(n)),
    finishedAt: String(1_700_000_000_300_000_000n + BigInt(n)), exitCode: n % 7 === 0 ? 1 : 0, reason: n % 7 === 0 ? 'Error' : 'Completed', message: '',
    pid: 0, logPath: join(base, 'logs', `${name}.log`), runtimeHandler: '',
    containerDir: join(base, 'root', 'containers', id),
    mounts: [], resources: null, user: { uid: 0, gid: 0, groups: [0] }, stopSignal: 'SIGTERM', tty: false, stdin: false,
  };
}

/** Seeds `containers` exited containers spread over `pods` stopped pods into `root/state.db`. */
export function seedRecords(root: string, base: string, pods: number, containers: number): Seeded {
  const store = StateStore.open(join(root, 'state.db'));
  const podTable = store.table<PodRecord>('pods');
  const containerTable = store.table<ContainerRecord>('containers');
  const seeded: Seeded = { podIds: [], containerIds: [] };
  try {
    store.transaction(() => {
      const podRecords = Array.from({ length: pods }, (_, n) => podRecord(hexId('5eed0', n), n, base));
      for (const p of podRecords) {
        podTable.put(p);
        seeded.podIds.push(p.id);
      }
      for (let n = 0; n < containers; n++) {
        const c = containerRecord(hexId('c0de0', n), podRecords[n % pods]!, n, base);
        containerTable.put(c);
        seeded.containerIds.push(c.id);
      }
    });
  } finally {
    store.close();
  }
  return seeded;
}
