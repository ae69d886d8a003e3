export { WsConnection, type WsRole } from './connection.js';
export { acceptKey, encodeWsFrame, WsFrameParser, WsProtocolError, Opcode, type WsFrame } from './frames.js';
export { ChannelReader, ChannelWriter, binaryChannels, base64Channels, codecFor, type ChannelCodec } from './channels.js';
