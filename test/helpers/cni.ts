import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A CNI network of the test's own: its bridge, its /24, its IPAM directory; no masquerade, no route out. */
export interface TestNetwork {
  name: string;
  bridge: string;
  /** e.g. 10.231.17 — the /24 is `${prefix}.0/24`, the gateway `${prefix}.1`. */
  prefix: string;
  ipamDir: string;
  confFile: string;
}

export interface TestNetworkOptions {
  /** Where the conflist goes (the daemon's conf dir). */
  confDir: string;
  /** Holds host-local's allocations, so a test can see what is leaked. */
  stateDir: string;
  cniVersion?: string;
  /** Extra plugins after bridge (and portmap), e.g. a failing one. */
  extraPlugins?: Record<string, unknown>[];
  fileName?: string;
  /** Whether the chain ends with the loopback plugin (default true). */
  loopback?: boolean;
}

export function writeTestNetwork(opts: TestNetworkOptions): TestNetwork {
  const tag = randomBytes(3).toString('hex');
  const name = `rct-${tag}`;
  const bridge = `rct${tag}`;
  const prefix = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}`;
  const ipamDir = join(opts.stateDir, `ipam-${tag}`);
  mkdirSync(ipamDir, { recursive: true });
  const conf = {
    cniVersion: opts.cniVersion ?? '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge,
        // The gateway address on the bridge lets the host reach pods (port mappings from loopback); no masquerade and no default route keep traffic inside.
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: `${prefix}.0/24` }]] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      ...(opts.extraPlugins ?? []),
      ...(opts.loopback === false ? [] : [{ type: 'loopback' }]),
    ],
  };
  const confFile = join(opts.confDir, opts.fileName ?? `10-${name}.conflist`);
  writeFileSync(confFile, JSON.stringify(conf, null, 2));
  return { name, bridge, prefix, ipamDir, confFile };
}

/** host-local's allocation files (one per leased IP). */
export function allocatedIps(net: TestNetwork): string[] {
  const dir = join(net.ipamDir, net.name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/i.test(f) && !f.startsWith('last_reserved_ip'));
}

/** veth interfaces attached to the test's bridge. */
export function vethsOn(net: TestNetwork): string[] {
  const out = spawnSync('ip', ['-o', 'link', 'show', 'master', net.bridge], { encoding: 'utf8' });
  if (out.status !== 0) return [];
  return out.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim().split('@')[0]!);
}

/** Removes the bridge and the IPAM state; safe to call twice. */
export function removeTestNetwork(net: TestNetwork): void {
  spawnSync('ip', ['link', 'del', net.bridge], { stdio: 'ignore' });
  rmSync(net.ipamDir, { recursive: true, force: true });
  rmSync(net.confFile, { force: true });
}

/** Runs a command inside a pinned network namespace. */
export function inNetns(netns: string, argv: string[], timeoutMs = 10_000): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync('nsenter', [`--net=${netns}`, '--', ...argv], { encoding: 'utf8', timeout: timeoutMs });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}
