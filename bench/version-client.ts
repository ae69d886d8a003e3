/**
 * A separate client process for latency measurements: N sequential Version calls over one
 * HTTP/2 connection with the :authority given, printing each latency in ms as JSON.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';

const [socketPath, countText, authority] = process.argv.slice(2);
const count = Number(countText ?? 1000);
const frame = Buffer.alloc(5);

function call(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/runtime.v1.RuntimeService/Version', ':authority': authority ?? 'localhost', 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    req.on('trailers', (t) => { status = t['grpc-status'] as string; });
    req.on('data', () => {});
    req.on('error', reject);
    req.on('end', () => (status === '0' ? resolve() : reject(new Error(`grpc-status ${status}`))));
    req.end(frame);
  });
}

const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath!) });
const latencies: number[] = [];
for (let i = 0; i < 50; i++) await call(session);
for (let i = 0; i < count; i++) {
  const start = process.hrtime.bigint();
  await call(session);
  latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
}
session.close();
process.stdout.write(JSON.stringify(latencies));
