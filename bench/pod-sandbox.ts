/**
 * RunPodSandbox against its floor: the raw steps alone (`unshare` pinning net/ipc/uts
 * namespaces, then the CNI chain ADD run by hand with each plugin fed the previous result),
 * on the same bridge network in the same run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, makeTestDirs, removeTestDirs } from '../test/helpers/daemon.js';
import { removeTestNetwork, writeTestNetwork } from '../test/helpers/cni.js';
import { compare, metric, percentile, timeMs } from './report.js';

const N = 30;
const CONCURRENT = 20;
const BIN_DIR = '/usr/lib/cni';

function exec(file: string, args: string[], input: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${out}${err}`))));
    child.stdin.on('error', () => undefined); // a program that ignores stdin may exit before reading it
    child.stdin.end(input);
  });
}

interface Chain { name: string; cniVersion: string; plugins: Record<string, unknown>[] }

async function chain(command: 'ADD' | 'DEL', conf: Chain, id: string, netns: string): Promise<void> {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1', CNI_PATH: BIN_DIR };
  let prev: unknown;
  const plugins = command === 'ADD' ? conf.plugins : [...conf.plugins].reverse();
  for (const p of plugins) {
    const stdin = { ...p, name: conf.name, cniVersion: conf.cniVersion, ...(prev ? { prevResult: prev } : {}) };
    const out = await exec(join(BIN_DIR, String(p.type)), [], JSON.stringify(stdin), env);
    if (command === 'ADD' && out.trim()) prev = JSON.parse(out);
  }
}

/** The floor: one pod's namespaces pinned and its network added, nothing else. */
async function floorPod(nsDir: string, conf: Chain, id: string): Promise<void> {
  const files = ['net', 'ipc', 'uts'].map((k) => join(nsDir, `${id}-${k}`));
  for (const f of files) writeFileSync(f, '');
  await exec('unshare', [`--net=${files[0]}`, `--ipc=${files[1]}`, `--uts=${files[2]}`, 'hostname', id.slice(0, 12)], '', {});
  await chain('ADD', conf, id, files[0]!);
}

async function floorCleanup(nsDir: string, conf: Chain, id: string): Promise<void> {
  const files = ['net', 'ipc', 'uts'].map((k) => join(nsDir, `${id}-${k}`));
  await chain('DEL', conf, id, files[0]!);
  spawnSync('umount', files);
  for (const f of files) rmSync(f, { force: true });
}

export async function run(): Promise<void> {
  const dirs = makeTestDirs();
  const net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
  const conf = JSON.parse(readFileSync(net.confFile, 'utf8')) as Chain;
  const nsDir = join(dirs.base, 'floor-ns');
  mkdirSync(nsDir, { recursive: true });
  spawnSync('mount', ['--bind', nsDir, nsDir]);
  spawnSync('mount', ['--make-private', nsDir]);
  const d = await TestDaemon.start({ dirs, logLevel: 'warn' });
  try {
    const config = (name: string) => ({ metadata: { name, uid: `uid-${name}`, namespace: 'bench', attempt: 0 } });
    const runPod = (name: string) => d.client.runtime('RunPodSandbox', { config: config(name) }).then((r) => r.pod_sandbox_id!);
    const removePod = async (id: string) => {
      await d.client.runtime('StopPodSandbox', { pod_sandbox_id: id });
      await d.client.runtime('RemovePodSandbox', { pod_sandbox_id: id });
    };
    // warm both paths (page cache, the bridge's creation, iptables chains)
    for (let i = 0; i < 3; i++) {
      await removePod(await runPod(`warm-${i}`));
      await floorPod(nsDir, conf, `warmfloor${i}`);
      await floorCleanup(nsDir, conf, `warmfloor${i}`);
    }

    // interleaved, so drift on the machine hits both alike
    const runs: number[] = [];
    const floors: number[] = [];
    const removes: number[] = [];
    const floorIds: string[] = [];
    const podIds: string[] = [];
    for (let i = 0; i < N; i++) {
      const [ms, id] = await timeMs(() => runPod(`seq-${i}`));
      runs.push(ms);
      podIds.push(id);
      const fid = `floor${i.toString().padStart(4, '0')}`;
      floors.push((await timeMs(() => floorPod(nsDir, conf, fid)))[0]);
      floorIds.push(fid);
    }
    for (const id of podIds) removes.push((await timeMs(() => removePod(id)))[0]);
    const floorRemoves: number[] = [];
    for (const fid of floorIds) floorRemoves.push((await timeMs(() => floorCleanup(nsDir, conf, fid)))[0]);

    compare('pod_run_p50', percentile(runs, 50), percentile(floors, 50), 'ms');
    compare('pod_run_p95', percentile(runs, 95), percentile(floors, 95), 'ms');
    compare('pod_stop_remove_p50', percentile(removes, 50), percentile(floorRemoves, 50), 'ms');

    const [wall, ids] = await timeMs(() => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => runPod(`conc-${i}`))));
    const [floorWall] = await timeMs(() => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => floorPod(nsDir, conf, `cfloor${i}`))));
    compare(`pod_run_concurrent${CONCURRENT}_wall`, wall, floorWall, 'ms');
    await Promise.all(ids.map(removePod));
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => floorCleanup(nsDir, conf, `cfloor${i}`)));
    metric('pod_run_samples', N, 'count');
  } finally {
    await d.stop();
    removeTestDirs(dirs);
    removeTestNetwork(net);
  }
}
