/**
 * Containers on the fake OCI runtime, with storage of plain directories: the container
 * service's own logic (create, start, stop, removal, image volumes, checkpoints) without root.
 */
import { after } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../lib/config/index.js';
import { ContainerLifecycle, type ContainerCreator } from '../../lib/container/index.js';
import type { CreateContainerRequest__Output } from '../../lib/generated/runtime/v1/CreateContainerRequest.js';
import type { ImageRecord } from '../../lib/image/index.js';
import { silentLogger } from '../../lib/log/index.js';
import { Paths } from '../../lib/paths/index.js';
import type { PodRecord } from '../../lib/sandbox/index.js';
import { StateStore } from '../../lib/state/index.js';
import type { LayerStore } from '../../lib/storage/index.js';
import { container, podConfig } from './cri-config.js';
import { FakeOciRuntime, FakeRuntimes } from './fake-oci-runtime.js';
import { seededRandom } from './random.js';

const base = mkdtempSync(join(tmpdir(), 'runcri-lifecycle-'));
after(() => rmSync(base, { recursive: true, force: true }));

export type Event = { type: string; containerId: string };

export interface Harness {
  lifecycle: ContainerLifecycle;
  creator: ContainerCreator;
  fake: FakeOciRuntime;
  events: Event[];
  store: StateStore;
  rootfsDirs: string;
  /** Image volume mount points the fake storage has made and not yet released, by container. */
  volumes: Map<string, string[]>;
  paths: Paths;
}

export const POD_ID = 'a'.repeat(64);

function pod(): PodRecord {
  return {
    id: POD_ID, metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, state: 'SANDBOX_READY', createdAt: '1', labels: {}, annotations: {},
    runtimeHandler: '', namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' }, namespacePaths: {},
    cgroupParent: '/test', cgroupPath: '/test', hostname: 'p', hostnamePath: '', resolvConfPath: '', hostsPath: '', logDirectory: '',
    ips: [], portMappings: [], privileged: false, sysctls: {}, supplementalGroups: [], securityContext: null, config: podConfig(),
    lifecycle: { phase: 'ready', podDir: '', networkAttached: false, cgroupCreated: [] },
  };
}

export const IMAGE: ImageRecord = { id: 'sha256:1', repoTags: ['test/img:v1'], repoDigests: [], size: 0, layers: [], diffIds: [], blobs: [], config: { Cmd: ['sleep', '1000'] }, platform: 'linux/amd64', pulledAt: '0' };

export const VOLUME_IMAGE: ImageRecord = { ...IMAGE, id: 'sha256:2', repoTags: ['test/data:v1'], layers: [`sha256:${'b'.repeat(64)}`, `sha256:${'c'.repeat(64)}`] };

export async function harness(seed: number, failCreate = false): Promise<Harness> {
  const dir = mkdtempSync(join(base, 'h'));
  const config = { ...defaultConfig(), root: join(dir, 'root'), state_dir: join(dir, 'state') };
  const paths = new Paths(config.root, config.state_dir);
  const store = StateStore.open(join(dir, 'state.db'));
  const fake = new FakeOciRuntime(seededRandom(seed));
  if (failCreate) fake.create = () => Promise.reject(new Error('the runtime refused'));
  const events: Event[] = [];
  const rootfsDirs = join(dir, 'rootfs');
  const volumes = new Map<string, string[]>();
  const lifecycle = new ContainerLifecycle({
    config, paths, store, log: silentLogger(), oomRestriction: { restricted: false, own: 0 }, runtimes: new FakeRuntimes(fake),
    events: { publish: (e) => events.push({ type: e.type, containerId: e.containerId }) },
    storage: {
      layers: {} as LayerStore,
      // One directory is the root filesystem and its writable layer alike: the diff of a checkpoint is all of it.
      async createContainerRootfs({ containerId, prepareUpper }) {
        const rootfs = join(rootfsDirs, containerId);
        mkdirSync(rootfs, { recursive: true });
        if (prepareUpper) await prepareUpper(rootfs);
        mkdirSync(join(rootfs, 'etc'), { recursive: true });
        writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
        return { rootfs, upperDir: rootfs, workDir: rootfs };
      },
      upperDirOf: (containerId) => join(rootfsDirs, containerId),
      rootfsLayersOf: () => [],
      layerDirs: () => [],
      async removeContainerRootfs(containerId) {
        rmSync(join(rootfsDirs, containerId), { recursive: true, force: true });
      },
      async removeTree(path) {
        rmSync(path, { recursive: true, force: true });
        return true;
      },
      async mountImageVolume({ containerId, mountPoint, layers }) {
        // The image's content, as its layers would show it.
        mkdirSync(join(mountPoint, 'data', 'sub'), { recursive: true });
        writeFileSync(join(mountPoint, 'data', 'layers'), layers.join(','));
        volumes.set(containerId, [...(volumes.get(containerId) ?? []), mountPoint]);
        return mountPoint;
      },
      async releaseImageVolumes(containerId) {
        for (const m of volumes.get(containerId) ?? []) rmSync(m, { recursive: true, force: true });
        volumes.delete(containerId);
      },
      imageVolumeOwners: () => [...volumes.keys()],
    },
  });
  await lifecycle.recover();
  const creator = lifecycle.creator({ pods: { get: () => pod() }, images: { resolve: (ref) => (ref === 'test/img:v1' || ref === VOLUME_IMAGE.repoTags[0] ? (ref === 'test/img:v1' ? IMAGE : VOLUME_IMAGE) : undefined) } });
  return { lifecycle, creator, fake, events, store, rootfsDirs, volumes, paths };
}

export function createRequest(name: string): CreateContainerRequest__Output {
  return { pod_sandbox_id: POD_ID, config: container({ metadata: { name, attempt: 0 }, image: { image: 'test/img:v1', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' } }), sandbox_config: null };
}

export const log = silentLogger();
export const never = new AbortController().signal;
