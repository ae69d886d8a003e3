export { SpdySession, SpdyStream, type SpdyRole } from './session.js';
export { FrameParser, FrameType, RstStatus, FLAG_FIN, FLAG_UNIDIRECTIONAL, encodeFrame, dataFrameHeader, SpdyProtocolError, type Frame } from './frames.js';
export { HeaderCompressor, HeaderDecompressor, encodeHeaderBlock, decodeHeaderBlock, type SpdyHeaders } from './header-block.js';
export { SPDY_DICTIONARY } from './dictionary.js';
