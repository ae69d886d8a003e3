import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { protoRoot } from '../../lib/server/proto.js';

/**
 * The project's own api.proto must say exactly what the published CRI v1 schema says: a
 * drift in a field number or type would silently break kubelet.
 */
const SCHEMA_PATH = join(protoRoot(), '..', '..', 'shared', 'cri', 'runtime-v1.schema.json');

interface SchemaField { type: string; id: number; rule?: string; keyType?: string }
interface SchemaNode {
  fields?: Record<string, SchemaField>;
  values?: Record<string, number>;
  methods?: Record<string, { requestType: string; responseType: string; responseStream?: boolean; requestStream?: boolean }>;
  nested?: Record<string, SchemaNode>;
}

const schemaPresent = existsSync(SCHEMA_PATH);

function loadOurs(): protobuf.Namespace {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot(), target);
  root.loadSync('runtime/v1/api.proto', { keepCase: true });
  return root.lookup('runtime.v1') as protobuf.Namespace;
}

function loadSchema(): Record<string, SchemaNode> {
  const doc = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as { nested: { runtime: { nested: { v1: { nested: Record<string, SchemaNode> } } } } };
  return doc.nested.runtime.nested.v1.nested;
}

function compareNode(name: string, expected: SchemaNode, actual: protobuf.ReflectionObject | null): void {
  assert.ok(actual, `${name} is missing from api.proto`);
  if (expected.methods) {
    assert.ok(actual instanceof protobuf.Service, `${name} should be a service`);
    assert.deepEqual(Object.keys(actual.methods).sort(), Object.keys(expected.methods).sort(), `${name}: RPC names`);
    for (const [method, spec] of Object.entries(expected.methods)) {
      const m: protobuf.Method = actual.methods[method]!;
      assert.equal(m.requestType, spec.requestType, `${name}.${method} request type`);
      assert.equal(m.responseType, spec.responseType, `${name}.${method} response type`);
      assert.equal(!!m.responseStream, !!spec.responseStream, `${name}.${method} server streaming`);
      assert.equal(!!m.requestStream, !!spec.requestStream, `${name}.${method} client streaming`);
    }
  } else if (expected.values) {
    assert.ok(actual instanceof protobuf.Enum, `${name} should be an enum`);
    assert.deepEqual({ ...actual.values }, expected.values, `${name}: enum values`);
  } else {
    assert.ok(actual instanceof protobuf.Type, `${name} should be a message`);
    const fields = expected.fields ?? {};
    assert.deepEqual(Object.keys(actual.fields).sort(), Object.keys(fields).sort(), `${name}: field names`);
    for (const [field, spec] of Object.entries(fields)) {
      const f: protobuf.Field = actual.fields[field]!;
      assert.equal(f.id, spec.id, `${name}.${field} number`);
      assert.equal(f.type, spec.type, `${name}.${field} type`);
      if (spec.keyType) {
        assert.ok(f instanceof protobuf.MapField, `${name}.${field} should be a map`);
        assert.equal((f as protobuf.MapField).keyType, spec.keyType, `${name}.${field} map key type`);
      } else {
        assert.equal(f.repeated, spec.rule === 'repeated', `${name}.${field} repeated rule`);
      }
    }
    for (const [nestedName, nested] of Object.entries(expected.nested ?? {})) {
      compareNode(`${name}.${nestedName}`, nested, actual.get(nestedName));
    }
  }
}

test('api.proto matches the CRI v1 schema field by field', { skip: !schemaPresent && 'the shared CRI schema is not beside this checkout' }, () => {
  const schema = loadSchema();
  const ours = loadOurs();
  for (const [name, node] of Object.entries(schema)) compareNode(name, node, ours.get(name));
  const ourNames = Object.keys(ours.nested ?? {}).sort();
  assert.deepEqual(ourNames, Object.keys(schema).sort(), 'api.proto declares nothing the schema lacks');
});

test('api.proto declares all 43 RPCs, 175 messages and 10 top-level enums', () => {
  const ours = loadOurs();
  const nested = Object.values(ours.nested ?? {});
  const services = nested.filter((n): n is protobuf.Service => n instanceof protobuf.Service);
  const rpcs = services.reduce((sum, s) => sum + Object.keys(s.methods).length, 0);
  const countMessages = (ns: protobuf.NamespaceBase): number =>
    Object.values(ns.nested ?? {}).reduce((sum, n) => sum + (n instanceof protobuf.Type ? 1 + countMessages(n) : 0), 0);
  const topLevelEnums = nested.filter((n) => n instanceof protobuf.Enum).length;
  assert.deepEqual(services.map((s) => s.name).sort(), ['ImageService', 'RuntimeService']);
  assert.equal(rpcs, 43);
  assert.equal(countMessages(ours), 175);
  assert.equal(topLevelEnums, 10);
});
