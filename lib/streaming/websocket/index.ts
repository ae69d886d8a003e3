export { WsConnection, type WsRole, type WsConnectionOptions } from './connection.js';
export { acceptKey, encodeWsFrame, WsFrameParser, WsProtocolError, Opcode, type WsFrame } from './frames.js';
export { ChannelReader, ChannelWriter, ChannelDemux, SmallMessage, binaryChannels, base64Channels, codecFor, demuxFor, type ChannelCodec, type ChannelPiece } from './channels.js';
