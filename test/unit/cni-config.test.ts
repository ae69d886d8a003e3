import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { ResultCache, discoverNetwork, parseNetworkConf, parseQuantity, pluginStdin, podIps } from '../../lib/sandbox/network/index.js';
import { InvalidArgumentError } from '../../lib/errors/index.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rct-cni-'));
  dirs.push(d);
  return d;
}

it('picks the first valid configuration by file name, .conflist, .conf and .json alike', () => {
  const dir = tmp();
  writeFileSync(join(dir, '05-broken.conflist'), '{ not json');
  writeFileSync(join(dir, '10-b.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge', bridge: 'x' }));
  writeFileSync(join(dir, '20-a.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'list', plugins: [{ type: 'bridge' }] }));
  writeFileSync(join(dir, '00-ignored.txt'), 'x');
  const found = discoverNetwork(dir);
  assert.equal(found.network!.name, 'single');
  assert.deepEqual(found.network!.plugins, [{ type: 'bridge', bridge: 'x' }]);
  assert.equal(found.network!.cniVersion, '0.4.0');
});

it('explains why there is no network: an empty directory, or only invalid files', () => {
  const dir = tmp();
  assert.match(discoverNetwork(dir).problem!, /no CNI configuration file/);
  writeFileSync(join(dir, '10.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [] }));
  assert.match(discoverNetwork(dir).problem!, /"plugins" must be a non-empty list/);
  assert.match(discoverNetwork(join(dir, 'missing')).problem!, /no CNI configuration file/);
});

it('refuses plugin types that are paths', () => {
  assert.throws(() => parseNetworkConf(JSON.stringify({ name: 'n', plugins: [{ type: '../../bin/sh' }] }), 'f', false), /not a file name/);
});

it('builds each plugin stdin with name, version, prevResult and only the capabilities it declares', () => {
  const network = { name: 'net', cniVersion: '1.0.0' };
  const caps = { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp', hostIP: '' }], bandwidth: { ingressRate: 1 }, 'io.kubernetes.cri.pod-annotations': { a: 'b' } };
  const portmap = pluginStdin(network, { type: 'portmap', capabilities: { portMappings: true, bandwidth: false } }, { ips: [] }, caps);
  assert.deepEqual(portmap, { type: 'portmap', capabilities: { portMappings: true, bandwidth: false }, name: 'net', cniVersion: '1.0.0', prevResult: { ips: [] }, runtimeConfig: { portMappings: caps.portMappings } });
  const bridge = pluginStdin(network, { type: 'bridge' }, undefined, caps);
  assert.deepEqual(bridge, { type: 'bridge', name: 'net', cniVersion: '1.0.0' });
});

it('reads pod IPs from a result, IPv4 first, skipping host-side and loopback addresses', () => {
  const result = {
    interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/ns' }, { name: 'lo', sandbox: '/run/ns' }],
    ips: [
      { address: 'fd00:10::5/64', interface: 2 },
      { address: '10.88.0.5/16', interface: 2, gateway: '10.88.0.1' },
      { address: '10.88.0.1/16', interface: 0 },
      { address: '127.0.0.1/8', interface: 3 },
    ],
  };
  assert.deepEqual(podIps(result), ['10.88.0.5', 'fd00:10::5']);
  assert.deepEqual(podIps({ ip4: { ip: '10.1.0.2/24' } }), ['10.1.0.2']);
  assert.deepEqual(podIps(undefined), []);
});

it('parses Kubernetes bandwidth quantities', () => {
  assert.equal(parseQuantity('10M'), 10_000_000);
  assert.equal(parseQuantity('1Mi'), 1_048_576);
  assert.equal(parseQuantity('500k'), 500_000);
  assert.equal(parseQuantity('1.5G'), 1_500_000_000);
  assert.throws(() => parseQuantity('fast'), InvalidArgumentError);
});

it('keeps ADD results on disk for a later daemon and forgets them after DEL', () => {
  const dir = tmp();
  const cache = new ResultCache(dir);
  assert.equal(cache.get('pod1', 'eth0'), undefined);
  const entry = { kind: 'cni#v1' as const, containerId: 'pod1', ifName: 'eth0', networkName: 'n', config: '{}', cniArgs: 'A=1', capabilityArgs: {}, result: { ips: [] } };
  cache.put(entry);
  assert.deepEqual(new ResultCache(dir).get('pod1', 'eth0'), entry);
  cache.delete('pod1', 'eth0');
  assert.equal(cache.get('pod1', 'eth0'), undefined);
});

it('ships a default bridge network runcri can read: bridge, host-local on 10.88.0.0/16, portmap, loopback', () => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bundles', 'cni'))) dir = dirname(dir);
  const found = discoverNetwork(join(dir, 'bundles', 'cni'));
  assert.equal(found.problem, undefined);
  assert.deepEqual(found.network!.plugins.map((p) => p.type), ['bridge', 'portmap', 'loopback']);
  assert.equal((found.network!.plugins[0]!.ipam as { ranges: { subnet: string }[][] }).ranges[0]![0]!.subnet, '10.88.0.0/16');
  assert.equal(found.network!.cniVersion, '1.0.0');
  assert.equal(found.network!.disableCheck, false);
});
