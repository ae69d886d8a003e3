export { SpdySession, SpdyStream, type SpdyRole, type SpdySessionLimits } from './session.js';
export { FrameParser, FrameType, RstStatus, FLAG_FIN, FLAG_UNIDIRECTIONAL, MAX_FRAME_PAYLOAD, encodeFrame, dataFrameHeader, SpdyProtocolError, SpdyLimitError, type Frame, type FrameParserLimits } from './frames.js';
export { HeaderCompressor, HeaderDecompressor, encodeHeaderBlock, decodeHeaderBlock, type SpdyHeaders } from './header-block.js';
export { SPDY_DICTIONARY } from './dictionary.js';
