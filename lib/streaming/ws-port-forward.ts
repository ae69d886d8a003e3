import { PassThrough } from 'node:stream';
import type { Logger } from '../log/index.js';
import type { ForwardSlots } from './forward-slots.js';
import { forwardConnection } from './port-forward.js';
import type { PodNetwork } from './port-connect.js';
import { ChannelReader, ChannelWriter, codecFor, demuxFor, type WsConnection } from './websocket/index.js';

export const WS_PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];

/**
 * Port-forward over WebSocket: one connection per requested port, on channel 2i (data) and
 * 2i+1 (errors). Each channel starts with the port number, two bytes little-endian, as
 * Kubernetes' clients expect. The WebSocket closes when every port's connection is done. Ports
 * past the forwarding limits (see ForwardSlots) get the refusal on their error channel.
 */
export function serveWsPortForward(conn: WsConnection, protocol: string, ports: number[], network: PodNetwork, podId: string, slots: ForwardSlots, log: Logger): void {
  const forwards = slots.forConnection();
  const codec = codecFor(protocol);
  const demux = demuxFor(protocol);
  const readers = ports.map(() => new ChannelReader(conn));
  conn.on('data', (piece: Buffer, _text: boolean, first: boolean, last: boolean) => {
    const decoded = demux.push(piece, first, last);
    if (!decoded || decoded.channel % 2 !== 0) return;
    readers[decoded.channel / 2]?.deliver(decoded.data);
  });
  conn.once('close', () => {
    for (const r of readers) if (!r.readableEnded) r.destroy();
  });
  const sessions = ports.map((port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    const data = new ChannelWriter(conn, codec, 2 * i);
    const errors = new ChannelWriter(conn, codec, 2 * i + 1);
    data.write(portBytes);
    errors.write(portBytes);
    // The error channel's end must not become a frame: a WebSocket channel has no EOF.
    const errorText = new PassThrough();
    errorText.on('data', (d: Buffer) => errors.write(d));
    return forwardConnection(network, podId, port, { fromClient: readers[i]!, toClient: data, errors: errorText }, forwards, log);
  });
  void Promise.all(sessions).then(() => conn.close(1000));
}
