import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startMetricsEndpoint } from '../../lib/stats/index.js';
import { RuntimeMetrics, countDefunct } from '../../lib/stats/metrics.js';
import { silentLogger } from '../../lib/log/index.js';

/** `name{labels} value` lines of the text format, with their values. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('runtime metrics', () => {
  it('counts RPCs by method and code, errors separately, with latency histograms', async () => {
    const m = new RuntimeMetrics({ processMetrics: false });
    m.observeRpc('Version', grpc.status.OK, 0.001);
    m.observeRpc('Version', grpc.status.OK, 0.002);
    m.observeRpc('PodSandboxStatus', grpc.status.NOT_FOUND, 0.0001);
    const s = samples(await m.registry.metrics());
    assert.equal(s.get('runcri_grpc_requests_total{method="Version",code="OK"}'), 2);
    assert.equal(s.get('runcri_grpc_errors_total{method="PodSandboxStatus",code="NOT_FOUND"}'), 1);
    assert.equal(s.get('runcri_grpc_errors_total{method="Version",code="OK"}'), undefined);
    assert.equal(s.get('runcri_grpc_request_duration_seconds_count{method="Version"}'), 2);
    assert.equal(s.get('runcri_grpc_request_duration_seconds_bucket{le="0.001",method="Version"}'), 1);
  });

  it('reads pods and containers by state and event subscribers at scrape time', async () => {
    const m = new RuntimeMetrics({ processMetrics: false });
    let pods: Record<string, number> = { SANDBOX_READY: 2 };
    m.setSources({ stateCounts: () => ({ pods, containers: { CONTAINER_RUNNING: 3 } }), subscriberCount: () => 1 });
    let s = samples(await m.registry.metrics());
    assert.equal(s.get('runcri_pods{state="SANDBOX_READY"}'), 2);
    assert.equal(s.get('runcri_containers{state="CONTAINER_RUNNING"}'), 3);
    assert.equal(s.get('runcri_container_event_subscribers'), 1);
    pods = { SANDBOX_NOTREADY: 1 };
    s = samples(await m.registry.metrics());
    assert.equal(s.get('runcri_pods{state="SANDBOX_READY"}'), undefined, 'a state with no pods left is not reported stale');
    assert.equal(s.get('runcri_pods{state="SANDBOX_NOTREADY"}'), 1);
  });

  it('records image pulls, OOM kills, CNI operations and dropped events', async () => {
    const m = new RuntimeMetrics({ processMetrics: false });
    m.imagePullBytes(1000);
    m.imagePullBytes(24);
    m.imagePullDone(1.5);
    m.imagePullFailed('not_found');
    m.imageLayers(2, 1);
    m.containerOomKilled();
    m.cniOperation('ADD', 0.05, false);
    m.cniOperation('DEL', 0.02, true);
    m.eventDropped();
    const s = samples(await m.registry.metrics());
    assert.equal(s.get('runcri_image_pull_bytes_total'), 1024);
    assert.equal(s.get('runcri_image_pull_duration_seconds_count'), 1);
    assert.equal(s.get('runcri_image_pull_failures_total{reason="not_found"}'), 1);
    assert.equal(s.get('runcri_image_layers_total{outcome="reused"}'), 2);
    assert.equal(s.get('runcri_container_oom_kills_total'), 1);
    assert.equal(s.get('runcri_cni_operation_duration_seconds_count{operation="ADD"}'), 1);
    assert.equal(s.get('runcri_cni_operation_errors_total{operation="DEL"}'), 1);
    assert.equal(s.get('runcri_container_events_dropped_total'), 1);
  });

  it('counts zombie processes from /proc, even with ") " in a command name', () => {
    const proc = mkdtempSync('/tmp/rct-proc-');
    try {
      const stat = (pid: string, text: string) => {
        mkdirSync(join(proc, pid));
        writeFileSync(join(proc, pid, 'stat'), text);
      };
      stat('1', '1 (init) S 0 1 1');
      stat('2', '2 (odd) Z name) R 1 2 2');
      stat('3', '3 (zombie) Z 1 3 3');
      mkdirSync(join(proc, 'self'));
      assert.equal(countDefunct(proc), 1);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  it('serves the registry on /metrics as Prometheus text, with process metrics, and 404 elsewhere', async () => {
    const m = new RuntimeMetrics();
    m.observeRpc('Version', grpc.status.OK, 0.001);
    const endpoint = await startMetricsEndpoint(m.registry, '127.0.0.1', 0, silentLogger());
    try {
      const res = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      const s = samples(await res.text());
      assert.equal(s.get('runcri_grpc_requests_total{method="Version",code="OK"}'), 1);
      assert.ok(s.has('process_cpu_seconds_total'));
      assert.equal((await fetch(`http://127.0.0.1:${endpoint.port}/other`)).status, 404);
    } finally {
      await endpoint.close();
    }
  });
});
