/**
 * Every failpoint of runcri, in one list: a test walks them all, and a name not listed here is
 * refused when RUNCRI_FAILPOINTS names it. A name says which operation it belongs to and
 * where in it it sits; names are stable (tests and operators use them), so rename none.
 */
export const FAILPOINTS = [
  { name: 'sandbox.run.after-netns-pin', rpc: 'RunPodSandbox', where: 'the pod\'s namespaces are pinned; nothing else of the network side is done' },
  { name: 'sandbox.run.after-cni-add', rpc: 'RunPodSandbox', where: 'CNI ADD has run (address leased, veth, port mappings) and its result is cached' },
  { name: 'sandbox.run.after-infra-start', rpc: 'RunPodSandbox', where: 'the infra process of a pod-wide PID namespace runs and is pinned' },
  { name: 'sandbox.run.after-cgroup-create', rpc: 'RunPodSandbox', where: 'the pod cgroup exists with its limits' },
  { name: 'sandbox.run.before-ready', rpc: 'RunPodSandbox', where: 'every step is done; the record still says the pod is being made' },
  { name: 'container.create.after-rootfs-mount', rpc: 'CreateContainer', where: 'the container\'s overlay root filesystem is mounted' },
  { name: 'container.create.after-conmon-start', rpc: 'CreateContainer', where: 'conmon runs and the runtime has created the container; the record is not yet ready' },
  { name: 'container.start.after-runtime-start', rpc: 'StartContainer', where: 'the runtime started the container; the record still says created' },
  { name: 'container.stop.after-kill-signal', rpc: 'StopContainer', where: 'the stop signal was sent; its exit is not yet recorded' },
  { name: 'container.remove.after-runtime-delete', rpc: 'RemoveContainer', where: 'the runtime deleted the container; its root filesystem, directory and record remain' },
  { name: 'sandbox.stop.after-network-detach', rpc: 'StopPodSandbox', where: 'CNI DEL has run; the record still says the network is attached' },
  { name: 'sandbox.remove.after-containers-removed', rpc: 'RemovePodSandbox', where: 'the pod is stopped and its containers are removed; its own parts remain' },
  { name: 'sandbox.remove.after-namespaces-unpinned', rpc: 'RemovePodSandbox', where: 'the pod\'s namespaces are unpinned; its cgroup, files and record remain' },
  { name: 'image.pull.mid-layer-unpack', rpc: 'PullImage', where: 'on an unpack worker thread, once a layer\'s first entry is written' },
  { name: 'image.pull.before-layer-rename', rpc: 'PullImage', where: 'a layer is unpacked and verified in its temporary directory, not yet renamed into place' },
  { name: 'image.pull.mid-commit', rpc: 'PullImage', where: 'the first of the image\'s manifest and config blobs is stored; its record is not committed' },
] as const;

export type FailpointName = (typeof FAILPOINTS)[number]['name'];
