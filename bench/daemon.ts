/**
 * The daemon itself: start-to-ready, idle memory, and Version latency from a separate client
 * process, with a clean :authority and with the socket path (which goes through the
 * re-encoding filter). The floor for the filter is the same CRI server bound by grpc-js
 * directly, which only a `localhost` authority can reach.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs, removeTestDirs } from '../test/helpers/daemon.js';
import { configFromToml } from '../lib/config/index.js';
import { silentLogger } from '../lib/log/index.js';
import { createCriServer } from '../lib/server/index.js';
import { StateStore } from '../lib/state/index.js';
import { compare, metric, percentile, pssKiB, rssKiB } from './report.js';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'version-client.js');
const CALLS = 1000;

/** Asynchronous: one of the servers measured runs in this very process. */
async function versionLatencies(socket: string, authority: string): Promise<number[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLIENT, socket, String(CALLS), authority], { encoding: 'utf8' });
  return JSON.parse(stdout) as number[];
}

async function startToReady(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const dirs = makeTestDirs();
    const start = process.hrtime.bigint();
    const d = await TestDaemon.start({ dirs, logLevel: 'warn' });
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    await d.stop();
    removeTestDirs(dirs);
  }
  return samples;
}

/** The same CRI server, but bound by grpc-js itself (no filter in front). */
async function unfilteredServer(dirs: ReturnType<typeof makeTestDirs>): Promise<{ socket: string; close: () => void }> {
  const config = configFromToml('', { root: dirs.root, state_dir: dirs.state, socket: `${dirs.base}/plain.sock`, 'network.conf_dir': dirs.cniConf });
  const store = StateStore.open(`${dirs.base}/plain.db`);
  const services = {
    config, version: 'bench', log: silentLogger(), store, oomRestriction: { restricted: false, own: 0 },
    runtimeReadiness: () => ({ ready: true, reason: '', message: '' }),
    network: { status: () => ({ ready: true, reason: '', message: '' }) },
  };
  const server = createCriServer(services as never, silentLogger());
  await new Promise<void>((resolve, reject) => server.grpc.bindAsync(`unix://${config.socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  server.setReady();
  return { socket: config.socket, close: () => { server.grpc.forceShutdown(); store.close(); } };
}

export async function run(): Promise<void> {
  const ready = await startToReady();
  metric('daemon_start_to_ready_p50', percentile(ready, 50), 'ms');

  const daemon = await TestDaemon.start({ logLevel: 'warn' });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const read = (p: string) => readFileSync(p, 'utf8');
    metric('daemon_idle_rss', rssKiB(daemon.pid, read) / 1024, 'MiB');
    metric('daemon_idle_pss', pssKiB(daemon.pid, read) / 1024, 'MiB');

    const viaLocalhost = await versionLatencies(daemon.dirs.socket, 'localhost');
    const viaPath = await versionLatencies(daemon.dirs.socket, daemon.dirs.socket);
    metric('version_localhost_p50', percentile(viaLocalhost, 50), 'ms');
    metric('version_localhost_p99', percentile(viaLocalhost, 99), 'ms');
    metric('version_socket_path_p50', percentile(viaPath, 50), 'ms');
    metric('version_socket_path_p99', percentile(viaPath, 99), 'ms');

    const plain = await unfilteredServer(daemon.dirs);
    try {
      const direct = await versionLatencies(plain.socket, 'localhost');
      compare('version_p50_through_filter', percentile(viaLocalhost, 50), percentile(direct, 50), 'ms');
      compare('version_p50_reencoded_authority', percentile(viaPath, 50), percentile(direct, 50), 'ms');
    } finally {
      plain.close();
    }
  } finally {
    await daemon.destroy();
  }
}
