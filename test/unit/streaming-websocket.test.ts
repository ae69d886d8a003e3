import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WsFrameParser, acceptKey, encodeWsFrame, Opcode, binaryChannels, base64Channels } from '../../lib/streaming/websocket/index.js';

test('the handshake accept key is RFC 6455\'s worked example', () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('frames: RFC 6455 examples, masked and not, and the 16/64-bit lengths', () => {
  // "Hello", unmasked, and masked with 37 fa 21 3d (RFC 6455 section 5.7)
  assert.deepEqual(encodeWsFrame(Opcode.TEXT, Buffer.from('Hello')), Buffer.from('810548656c6c6f', 'hex'));
  const masked = Buffer.from('818537fa213d7f9f4d5158', 'hex');
  assert.deepEqual(encodeWsFrame(Opcode.TEXT, Buffer.from('Hello'), { mask: Buffer.from('37fa213d', 'hex') }), masked);
  assert.deepEqual(new WsFrameParser(true, 1 << 20).push(masked), [{ fin: true, opcode: Opcode.TEXT, payload: Buffer.from('Hello') }]);
  assert.deepEqual(encodeWsFrame(Opcode.BINARY, Buffer.alloc(256)).subarray(0, 4), Buffer.from('827e0100', 'hex'));
  assert.deepEqual(encodeWsFrame(Opcode.BINARY, Buffer.alloc(65536)).subarray(0, 10), Buffer.from('827f0000000000010000', 'hex'));
  const parser = new WsFrameParser(false, 1 << 20);
  const big = encodeWsFrame(Opcode.BINARY, Buffer.alloc(70_000, 1));
  const out = [...parser.push(big.subarray(0, 5)), ...parser.push(big.subarray(5, 40_000)), ...parser.push(big.subarray(40_000))];
  assert.equal(out.length, 1);
  assert.equal(out[0]!.payload.length, 70_000);
});

test('the parser refuses unmasked client frames and oversized ones', () => {
  assert.throws(() => new WsFrameParser(true, 100).push(Buffer.from('810548656c6c6f', 'hex')), /must be masked/);
  assert.throws(() => new WsFrameParser(false, 100).push(encodeWsFrame(Opcode.BINARY, Buffer.alloc(101))), /too large/);
});

test('channel framing: a channel byte, or a digit and base64', () => {
  assert.deepEqual(binaryChannels.encode(1, Buffer.from('hi')), { payload: Buffer.from('\x01hi', 'latin1'), text: false });
  assert.deepEqual(binaryChannels.decode(Buffer.from('\x00data', 'latin1'), false), { channel: 0, data: Buffer.from('data') });
  assert.deepEqual(base64Channels.encode(1, Buffer.from('hi')), { payload: Buffer.from('1aGk='), text: true });
  assert.deepEqual(base64Channels.decode(Buffer.from('0aGk='), true), { channel: 0, data: Buffer.from('hi') });
});
