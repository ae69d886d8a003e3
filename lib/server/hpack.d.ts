/**
 * The slice of `hpack.js` (2.x, no published types) that the HTTP/2 authority filter uses:
 * its decompressor, which keeps the HPACK dynamic table of one connection direction.
 */
declare module 'hpack.js' {
  /** One decoded header field. Names and values are "binary strings": one char per octet. */
  export interface HpackHeader {
    name: string;
    value: string;
    /** Sent as "Literal Header Field Never Indexed" (a sensitive field). */
    neverIndex: boolean;
  }

  /** An object-mode stream: write header-block bytes, `execute()`, then `read()` the fields. */
  export interface HpackDecompressor {
    write(chunk: Buffer): boolean;
    /** Decodes everything written so far; a decoding failure is emitted as 'error', synchronously. */
    execute(): void;
    read(): HpackHeader | null;
    on(event: 'error', listener: (err: Error) => void): this;
  }

  export interface HpackDecompressorOptions {
    /** The dynamic table's initial and largest allowed size, in HPACK octets. */
    table: { maxSize: number };
  }

  const hpack: {
    decompressor: { create(options: HpackDecompressorOptions): HpackDecompressor };
  };
  export default hpack;
}
