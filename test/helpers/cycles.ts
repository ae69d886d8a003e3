/**
 * Pod and container cycles (run, create, start, stop, remove) and daemon kills in the middle
 * of them, for the tests and the benchmark that prove nothing accumulates.
 */
import type { ContainerFixture } from './container-fixture.js';
import type { CriClient } from './cri-client.js';
import { TestDaemon } from './daemon.js';
import type { LeakScope } from './leaks.js';

/** Every few cycles a pod with a host port (portmap's iptables rules) and a pod-wide PID namespace (the infra process). */
function podExtra(i: number) {
  return i % 4 === 3
    ? { port_mappings: [{ protocol: 'TCP' as const, container_port: 80, host_port: 20_000 + (i % 30_000) }], linux: { security_context: { namespace_options: { pid: 'POD' as const } } } }
    : {};
}

/** One pod with one container, through every step of its life and gone again. */
export async function podContainerCycle(fx: ContainerFixture, image: string, i: number): Promise<void> {
  const c = fx.client;
  const pod = await fx.runPod(podExtra(i));
  const id = await fx.run(pod, image, { metadata: { name: `cycle${i}` } });
  await c.runtime('StopContainer', { container_id: id, timeout: 0 });
  await c.runtime('RemoveContainer', { container_id: id });
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod.id });
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id });
}

export function leakScope(fx: ContainerFixture): LeakScope {
  return { dirs: fx.dirs, net: fx.net, cgroupRoot: fx.cgroupRoot, daemonPids: () => [fx.daemon.pid] };
}

/** Through CRI, as kubelet would: every pod stopped and removed (their containers with them); how many there were. */
export async function removeAllPods(c: CriClient): Promise<{ pods: number; containers: number }> {
  const pods = (await c.runtime('ListPodSandbox', {})).items ?? [];
  const containers = (await c.runtime('ListContainers', {})).containers ?? [];
  for (const p of pods) {
    await c.runtime('StopPodSandbox', { pod_sandbox_id: p.id });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: p.id });
  }
  return { pods: pods.length, containers: containers.length };
}

/**
 * Runs a pod, creates and starts its container, and SIGKILLs the daemon after a random delay
 * below `withinMs` (somewhere in those calls, or after them); then starts the daemon again on
 * the same directories. Returns the delay.
 */
export async function killMidCycle(fx: ContainerFixture, image: string, i: number, random: () => number, withinMs: number): Promise<number> {
  const delay = Math.floor(random() * withinMs);
  const calls = (async () => {
    const pod = await fx.runPod(podExtra(i));
    await fx.run(pod, image, { metadata: { name: `killed${i}` } });
  })().catch(() => undefined);
  await new Promise((r) => setTimeout(r, delay));
  // The client stays open: the calls in flight see the daemon die, as kubelet would.
  fx.daemon.process.kill('SIGKILL');
  await fx.daemon.waitExit();
  await calls;
  fx.daemon.client.close();
  fx.daemon = await TestDaemon.start({ dirs: fx.dirs, logLevel: 'warn' });
  return delay;
}
