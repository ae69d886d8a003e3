/**
 * The floors of a daemon's start: the least a Node.js gRPC server on a Unix socket costs
 * before it can answer (the daemon runs with the same V8 flags and listens on the same path). `http2`: Node's own HTTP/2 server answering every call OK with an
 * empty message; `grpc-js`: @grpc/grpc-js serving one method the same way (no proto loaded).
 *
 *   node floor-server.js http2|grpc-js SOCKET
 */
const [mode, socket] = process.argv.slice(2);
if (!socket || (mode !== 'http2' && mode !== 'grpc-js')) {
  process.stderr.write('usage: floor-server http2|grpc-js SOCKET\n');
  process.exit(2);
}

// The daemon's socket path, reused: whatever stale socket file is there goes, as the daemon does.
const { rmSync } = await import('node:fs');
rmSync(socket, { force: true });

if (mode === 'http2') {
  const http2 = await import('node:http2');
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.alloc(5));
    });
  });
  server.listen(socket);
} else {
  const grpc = await import('@grpc/grpc-js');
  const server = new grpc.Server();
  const identity = (b: Buffer) => b;
  server.addService({
    ListContainers: {
      path: '/runtime.v1.RuntimeService/ListContainers', requestStream: false, responseStream: false,
      requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    },
  }, { ListContainers: (_call: unknown, callback: (err: null, value: Buffer) => void) => callback(null, Buffer.alloc(0)) });
  server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), () => undefined);
}
process.on('SIGTERM', () => process.exit(0));
