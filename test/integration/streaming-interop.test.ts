/**
 * The streaming server against other people's protocol stacks: test/interop/streamclient (Go,
 * built by `make test`) speaks SPDY/3.1 through github.com/docker/spdystream and WebSocket
 * through github.com/gorilla/websocket, as Kubernetes' clients do, to the URLs the daemon's
 * Exec, Attach and PortForward return. Every protocol the server announces is driven; what the
 * Go side reports (exit codes, bytes, checksums) is checked here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContainerFixture } from '../helpers/container-fixture.js';
import { bundlesDir } from '../../lib/container/defaults.js';
import { SPDY_PORT_FORWARD_PROTOCOL, SPDY_REMOTE_COMMAND_PROTOCOLS } from '../../lib/streaming/protocol.js';
import { WS_REMOTE_COMMAND_PROTOCOLS } from '../../lib/streaming/ws-remote-command.js';
import { WS_PORT_FORWARD_PROTOCOLS } from '../../lib/streaming/ws-port-forward.js';
import type { PodSandboxConfig } from '../../lib/generated/runtime/v1/PodSandboxConfig.js';

const CLIENT = join(dirname(bundlesDir()), '.build', 'interop', 'streamclient');
const TEN_MIB = 10 * 1024 * 1024;
const ECHO_PORT = 8080;

/** ws-tunnel: port-forward as SPDY inside a WebSocket, the websocket transport of kubectl 1.30+. */
type Transport = 'spdy' | 'websocket' | 'ws-tunnel';
interface Wire {
  transport: Transport;
  protocol: string;
}

const COMMAND_WIRES: Wire[] = [
  ...SPDY_REMOTE_COMMAND_PROTOCOLS.map((protocol): Wire => ({ transport: 'spdy', protocol })),
  ...WS_REMOTE_COMMAND_PROTOCOLS.map((protocol): Wire => ({ transport: 'websocket', protocol })),
];
const FORWARD_WIRES: Wire[] = [
  { transport: 'spdy', protocol: SPDY_PORT_FORWARD_PROTOCOL },
  { transport: 'ws-tunnel', protocol: SPDY_PORT_FORWARD_PROTOCOL },
  ...WS_PORT_FORWARD_PROTOCOLS.map((protocol): Wire => ({ transport: 'websocket', protocol })),
];

const name = (w: Wire) => `${w.transport} ${w.protocol}`;
/** v4 and v5 put a Status with the exit code on the error stream; older ones text, only on failure. */
const reportsExitCode = (w: Wire) => /^v[45]\./.test(w.protocol);
/** SPDY half-closes a stream; over WebSocket only v5 has a message for "stdin is done". */
const closesStdin = (w: Wire) => w.transport === 'spdy' || w.protocol.startsWith('v5.');
/** SPDY got its resize stream in v3; every WebSocket protocol has the resize channel. */
const resizes = (w: Wire) => w.transport === 'websocket' || !['channel.k8s.io', 'v2.channel.k8s.io'].includes(w.protocol);

interface Summary {
  bytes: number;
  sha256: string;
  text: string;
}
interface CommandReport {
  protocol: string;
  exitCode: number | null;
  error: string;
  stdin?: Summary;
  stdout?: Summary;
  stderr?: Summary;
  stoppedAtMarkers: boolean;
}
interface ForwardReport {
  protocol: string;
  requests: { sent: Summary; received: Summary; error: string; dataPortPrefix?: number; errorPortPrefix?: number }[];
}

let fx: ContainerFixture;
let pod: { id: string; config: PodSandboxConfig };
let sleeper: string;

before(async () => {
  // A missing client is a broken build, not a reason to skip: `make test` builds it.
  assert.ok(existsSync(CLIENT), `${CLIENT} is missing: build it with \`make .build/interop/streamclient\` (make test does)`);
  fx = await ContainerFixture.start({
    sleeper: { Cmd: ['sleep', '3600'] },
    shell: { Cmd: ['sh'] },
    echo: { Cmd: ['nc', '-ll', '-p', String(ECHO_PORT), '-e', 'cat'] },
  });
  pod = await fx.runPod();
  sleeper = await fx.run(pod, 'sleeper');
  await fx.run(pod, 'echo');
  // nc needs a moment to bind after the container starts
  await new Promise((r) => setTimeout(r, 300));
});

after(async () => {
  await fx?.destroy();
});

/** Runs the Go client; its JSON report, or a failure carrying what it said on stderr. */
function runClient<R>(args: string[]): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLIENT, [...args, '-timeout', '60s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`streamclient ${args.join(' ')} exited ${code}: ${err.trim()}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as R);
      } catch (e) {
        reject(new Error(`streamclient printed no report (${(e as Error).message}): ${err.trim()}`));
      }
    });
  });
}

interface CommandRequest {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
}

function criFlags(r: CommandRequest): { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean } {
  return { stdin: r.stdin ?? false, stdout: r.stdout ?? true, stderr: r.stderr ?? false, tty: r.tty ?? false };
}

/** Exec through the CRI socket, then the Go client on its URL with streams matching the request. */
async function execWith(w: Wire, cmd: string[], req: CommandRequest, clientArgs: string[] = []): Promise<CommandReport> {
  const flags = criFlags(req);
  const url = (await fx.client.runtime('Exec', { container_id: sleeper, cmd, ...flags })).url!;
  return runCommandClient('exec', w, url, flags, clientArgs);
}

function runCommandClient(mode: 'exec' | 'attach', w: Wire, url: string, flags: ReturnType<typeof criFlags>, clientArgs: string[]): Promise<CommandReport> {
  return runClient<CommandReport>([
    '-mode', mode, '-transport', w.transport, '-protocol', w.protocol, '-url', url,
    `-stdout=${flags.stdout}`, `-stderr=${flags.stderr}`, `-tty=${flags.tty}`, ...clientArgs,
  ]);
}

function assertExit(w: Wire, r: CommandReport, code: number): void {
  assert.equal(r.protocol, w.protocol);
  if (code === 0) {
    assert.equal(r.exitCode, 0, `error stream: ${r.error}`);
    assert.equal(r.error, '');
  } else {
    assert.equal(r.exitCode, reportsExitCode(w) ? code : null);
    assert.match(r.error, new RegExp(`exit code ${code}\\b`));
  }
}

test('a client offering every version gets the newest one the server speaks', async () => {
  const spdy = await execWith({ transport: 'spdy', protocol: 'v5.channel.k8s.io,v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io' }, ['true'], {});
  assert.equal(spdy.protocol, 'v4.channel.k8s.io');
  assert.equal(spdy.exitCode, 0);
  const ws = await execWith({ transport: 'websocket', protocol: 'v5.channel.k8s.io,v4.channel.k8s.io' }, ['true'], {});
  assert.equal(ws.protocol, 'v5.channel.k8s.io');
  assert.equal(ws.exitCode, 0);
});

test('exec without a tty: stdout and stderr arrive apart and exit 0 is a success', async (t) => {
  for (const w of COMMAND_WIRES) {
    await t.test(name(w), async () => {
      const r = await execWith(w, ['sh', '-c', 'echo to-stdout; echo to-stderr >&2'], { stderr: true }, ['-stderr']);
      assert.equal(r.stdout?.text, 'to-stdout\n');
      assert.equal(r.stderr?.text, 'to-stderr\n');
      assertExit(w, r, 0);
    });
  }
});

test('exec: a non-zero exit code comes back from the error stream', async (t) => {
  for (const w of COMMAND_WIRES) {
    await t.test(name(w), async () => {
      const r = await execWith(w, ['sh', '-c', 'echo before-exit; exit 7'], {});
      assert.equal(r.stdout?.text, 'before-exit\n');
      assertExit(w, r, 7);
    });
  }
});

test('exec: stdin is piped to the process, and its end is the process’s EOF where the protocol can say so', async (t) => {
  const input = 'first line\nsecond line\n';
  for (const w of COMMAND_WIRES) {
    await t.test(name(w), async () => {
      // Without a way to close stdin, the process must know when to stop reading.
      const cmd = closesStdin(w) ? ['cat'] : ['head', '-c', String(Buffer.byteLength(input))];
      const r = await execWith(w, cmd, { stdin: true }, ['-stdin-text', input]);
      assert.equal(r.stdout?.text, input);
      assertExit(w, r, 0);
    });
  }
});

test('exec with a tty: input reaches the process, a resize is what it sees, the exit code comes back', async (t) => {
  for (const [i, w] of COMMAND_WIRES.entries()) {
    await t.test(name(w), async () => {
      const width = 100 + i;
      const height = 40 + i;
      const waitForSize = `i=0; while [ "$(busybox stty size)" != "${height} ${width}" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done`;
      const script = resizes(w)
        ? `read line; ${waitForSize}; echo "got-$line size-$(busybox stty size | tr ' ' x)"; exit 3`
        : 'read line; echo "got-$line"; exit 3';
      const args = ['-stdin-text', 'hello\n', '-stdin-hold', ...(resizes(w) ? ['-resize', `${width}x${height}`] : [])];
      const r = await execWith(w, ['sh', '-c', script], { stdin: true, tty: true }, args);
      assert.equal(r.stderr, undefined);
      assert.match(r.stdout!.text, resizes(w) ? new RegExp(`got-hello size-${height}x${width}\\r\\n`) : /got-hello\r\n/);
      assertExit(w, r, 3);
    });
  }
});

test('exec: 10 MiB of stdin reach the process whole (sha256 in the container)', async (t) => {
  for (const w of COMMAND_WIRES) {
    await t.test(name(w), async () => {
      const cmd = closesStdin(w) ? ['busybox', 'sha256sum'] : ['sh', '-c', `head -c ${TEN_MIB} | busybox sha256sum`];
      const r = await execWith(w, cmd, { stdin: true }, ['-stdin-random', String(TEN_MIB)]);
      assert.equal(r.stdin?.bytes, TEN_MIB);
      assert.equal(r.stdout?.text.split(' ')[0], r.stdin?.sha256);
      assertExit(w, r, 0);
    });
  }
});

test('exec: 10 MiB of stdout reach the client whole (sha256 in the container)', async (t) => {
  const script = `f=/tmp/blob-$$; head -c ${TEN_MIB} /dev/urandom > $f && busybox sha256sum $f >&2 && cat $f; s=$?; rm -f $f; exit $s`;
  for (const w of COMMAND_WIRES) {
    await t.test(name(w), async () => {
      const r = await execWith(w, ['sh', '-c', script], { stderr: true }, ['-stderr']);
      assert.equal(r.stdout?.bytes, TEN_MIB);
      assert.equal(r.stdout?.sha256, r.stderr?.text.split(' ')[0]);
      assertExit(w, r, 0);
    });
  }
});

test('attach to a running container: stdin reaches it, stdout and stderr come back, and it runs on after the client leaves', async (t) => {
  const ctr = await fx.run(pod, 'shell', { stdin: true });
  for (const [i, w] of COMMAND_WIRES.entries()) {
    await t.test(name(w), async () => {
      const flags = criFlags({ stdin: true, stderr: true });
      const url = (await fx.client.runtime('Attach', { container_id: ctr, ...flags })).url!;
      const r = await runCommandClient('attach', w, url, flags, [
        '-stderr', '-stdin-hold', '-stdin-text', `echo attached-$((6*7))-${i}; echo attach-err-${i} >&2\n`,
        '-until', `attached-42-${i}`, '-until-stderr', `attach-err-${i}`,
      ]);
      assert.equal(r.protocol, w.protocol);
      assert.ok(r.stoppedAtMarkers, `attach output: ${JSON.stringify(r)}`);
      assert.match(r.stdout!.text, new RegExp(`attached-42-${i}\n`));
      assert.match(r.stderr!.text, new RegExp(`attach-err-${i}\n`));
    });
  }
  assert.equal((await fx.status(ctr)).state, 'CONTAINER_RUNNING');
});

test('attach to a container with a tty: a resize reaches its terminal', async (t) => {
  const ctr = await fx.run(pod, 'shell', { stdin: true, tty: true });
  for (const [i, w] of COMMAND_WIRES.entries()) {
    await t.test(name(w), async () => {
      const flags = criFlags({ stdin: true, tty: true });
      const url = (await fx.client.runtime('Attach', { container_id: ctr, ...flags })).url!;
      const width = 120 + i;
      const height = 50 + i;
      const line = resizes(w)
        ? `i=0; while [ "$(busybox stty size)" != "${height} ${width}" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; echo "size-$(busybox stty size | tr ' ' x)"\n`
        : `echo tty-attached-$((6*7))-${i}\n`;
      const marker = resizes(w) ? `size-${height}x${width}` : `tty-attached-42-${i}`;
      const r = await runCommandClient('attach', w, url, flags, [
        '-stdin-hold', '-stdin-text', line, '-until', marker, ...(resizes(w) ? ['-resize', `${width}x${height}`] : []),
      ]);
      assert.ok(r.stoppedAtMarkers, `attach output: ${JSON.stringify(r)}`);
    });
  }
  assert.equal((await fx.status(ctr)).state, 'CONTAINER_RUNNING');
});

async function forwardWith(w: Wire, criPorts: number[], clientArgs: string[]): Promise<ForwardReport> {
  const url = (await fx.client.runtime('PortForward', { pod_sandbox_id: pod.id, port: criPorts })).url!;
  return runClient<ForwardReport>(['-mode', 'portforward', '-transport', w.transport, '-protocol', w.protocol, '-url', url, ...clientArgs]);
}

/** Over WebSocket the channel pairs are the PortForward request's ports; SPDY names them per stream. */
function assertPortPrefixes(w: Wire, r: ForwardReport['requests'][number], port: number): void {
  if (w.transport !== 'websocket') return;
  assert.equal(r.dataPortPrefix, port);
  assert.equal(r.errorPortPrefix, port);
}

test('port-forward: two connections at once each reach the pod port, both ways', async (t) => {
  for (const w of FORWARD_WIRES) {
    await t.test(name(w), async () => {
      const text = `through ${w.protocol}\n`;
      const r = await forwardWith(w, [ECHO_PORT, ECHO_PORT], ['-port', String(ECHO_PORT), '-requests', '2', '-send-text', text]);
      assert.equal(r.protocol, w.protocol);
      assert.equal(r.requests.length, 2);
      for (const req of r.requests) {
        assert.equal(req.received.text, text);
        assert.equal(req.error, '');
        assertPortPrefixes(w, req, ECHO_PORT);
      }
    });
  }
});

test('port-forward: 10 MiB each way come through whole (sha256)', async (t) => {
  for (const w of FORWARD_WIRES) {
    await t.test(name(w), async () => {
      const r = await forwardWith(w, [ECHO_PORT], ['-port', String(ECHO_PORT), '-send-random', String(TEN_MIB)]);
      const [req] = r.requests;
      assert.equal(req!.sent.bytes, TEN_MIB);
      assert.equal(req!.received.bytes, TEN_MIB);
      assert.equal(req!.received.sha256, req!.sent.sha256);
      assert.equal(req!.error, '');
    });
  }
});

test('port-forward: a port nobody listens on is reported on the error stream', async (t) => {
  for (const w of FORWARD_WIRES) {
    await t.test(name(w), async () => {
      const r = await forwardWith(w, [9999], ['-port', '9999', '-send-text', 'x']);
      const [req] = r.requests;
      assert.match(req!.error, /error forwarding port 9999 to pod/);
      assert.equal(req!.received.bytes, 0);
      assertPortPrefixes(w, req!, 9999);
    });
  }
});
