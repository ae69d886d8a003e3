/**
 * Every bound the streaming server puts on what a client can make it hold. Streaming URLs are
 * handed to anyone allowed to `kubectl exec` or `port-forward`, and the daemon runs as root, so
 * no byte count, stream count or process count may follow the client's wishes. README.md's
 * "Limits" table lists these; keep the two in step.
 */
export const StreamingLimits = {
  /** Inflated size of one SPDY header block (SYN_STREAM, SYN_REPLY, HEADERS). kubectl sends a few hundred bytes. */
  spdyHeaderBlockBytes: 256 * 1024,
  /**
   * Payload of one SPDY control frame. Header blocks travel compressed in them, and deflate can
   * only grow its input by a few bytes per 16 KiB, so this follows the inflated cap.
   */
  spdyControlFrameBytes: 256 * 1024 + 4096,
  /** Header values (after splitting NUL-joined ones) in one SPDY header block. */
  spdyHeaderValues: 128,
  /** Streams open at once on one SPDY connection; more are refused with RST_STREAM REFUSED_STREAM. */
  spdyConcurrentStreams: 256,
  /**
   * DATA payloads (SPDY) and data frame payloads (WebSocket) up to this size are handed on whole;
   * a larger one is handed on in pieces as its bytes arrive, so no frame is ever held entire.
   */
  framePieceBytes: 128 * 1024,
  /** One WebSocket message, all its fragments together, and so also one frame; past it: close 1009. */
  wsMessageBytes: 16 * 1024 * 1024,
  /**
   * Unsent bytes towards a client past which the connection stops reading from it: a peer that
   * sends PINGs (or anything else that is answered) but never reads cannot grow the send buffer.
   */
  sendBacklogBytes: 4 * 1024 * 1024,
  /** Upgraded streaming connections open at once, all kinds together; more get HTTP 503 before the upgrade. */
  connections: 1024,
  /** Sockets the HTTP server keeps at all (upgraded or not); more are closed as soon as they are accepted. */
  sockets: 2048,
  /** A connection must send its whole upgrade request within this long after connecting. */
  requestTimeoutMs: 30_000,
  /** Forwarded TCP connections (one `nsenter`+`socat` each) at once on one streaming connection. */
  forwardsPerConnection: 64,
  /** Forwarded TCP connections at once on the node. */
  forwardsTotal: 256,
} as const;
