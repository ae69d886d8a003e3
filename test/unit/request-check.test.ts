import test from 'node:test';
import assert from 'node:assert/strict';
import { loadCriProto } from '../../lib/server/proto.js';
import { UndecodableRequest, withCheckedRequests } from '../../lib/server/request-check.js';

const runtime = withCheckedRequests(loadCriProto().runtime.v1.RuntimeService.service);
const runPod = runtime.RunPodSandbox!;
const encode = (request: unknown) => runPod.requestSerialize(request);
const decode = (bytes: Buffer) => runPod.requestDeserialize(bytes);

test('a request that does not decode becomes an UndecodableRequest naming the type, not an exception', () => {
  for (const bytes of [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x0f]), Buffer.concat([Buffer.alloc(20000, 0x0b)])]) {
    const request = decode(bytes);
    assert.ok(request instanceof UndecodableRequest, `decoded ${bytes.toString('hex').slice(0, 40)}`);
    assert.match(request.reason, /^the request is not a valid runtime\.v1\.RunPodSandboxRequest message: /);
  }
});

test('an enum value the schema does not know is refused with its path', () => {
  const request = decode(encode({ config: { metadata: { name: 'p' }, linux: { security_context: { namespace_options: { network: 17 } } } } }));
  assert.ok(request instanceof UndecodableRequest);
  assert.equal(request.reason, 'config.linux.security_context.namespace_options.network: 17 is not a NamespaceMode this runtime knows (POD, CONTAINER, NODE, TARGET)');
  const ports = decode(encode({ config: { port_mappings: [{ protocol: 'TCP' }, { protocol: 99 }] } }));
  assert.ok(ports instanceof UndecodableRequest);
  assert.match(ports.reason, /^config\.port_mappings\.protocol: 99 is not a Protocol/);
});

test('a NUL in a string field is refused; labels and annotations may hold one', () => {
  const named = decode(encode({ config: { metadata: { name: 'a\0b' } } }));
  assert.ok(named instanceof UndecodableRequest);
  assert.equal(named.reason, 'config.metadata.name: a NUL character is not allowed in a string');
  const labelled = decode(encode({ config: { metadata: { name: 'p' }, labels: { k: 'a\0b' }, annotations: { 'x\0': 'y' } } }));
  assert.ok(!(labelled instanceof UndecodableRequest));
});

test('a valid request decodes as before', () => {
  const request = decode(encode({ config: { metadata: { name: 'p', uid: 'u', namespace: 'n' }, linux: { security_context: { namespace_options: { network: 'NODE' } } } }, runtime_handler: 'runc' })) as { config: { metadata: { name: string }; linux: { security_context: { namespace_options: { network: string } } } }; runtime_handler: string };
  assert.equal(request.config.metadata.name, 'p');
  assert.equal(request.config.linux.security_context.namespace_options.network, 'NODE');
  assert.equal(request.runtime_handler, 'runc');
});

test('a NUL byte in an environment value (KeyValue.value, bytes in this tree) is refused', () => {
  const create = runtime.CreateContainer!;
  const request = create.requestDeserialize(create.requestSerialize({ config: { envs: [{ key: 'A', value: Buffer.from('x\0y') }] } }));
  assert.ok(request instanceof UndecodableRequest);
  assert.equal(request.reason, 'config.envs.value: a NUL byte is not allowed in a value');
});
