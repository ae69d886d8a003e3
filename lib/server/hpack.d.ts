/**
 * The slice of `hpack.js` (2.x, no published types) that the HTTP/2 authority filter and its
 * tests use: the decoder primitives and dynamic table the filter's bounded decoder is built on,
 * and the stream-shaped compressor and decompressor the tests encode and decode with.
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

  /**
   * RFC 7541 primitives over the bytes pushed so far. Every read throws when the bytes run
   * out or are invalid; bits are consumed from the most significant end of each octet.
   */
  export interface HpackDecoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    /** An integer whose prefix is the rest of the current octet (§5.1). */
    decodeInt(): number;
    /** A string literal (§5.2): its octets, Huffman-decoded when so marked. */
    decodeStr(): ArrayLike<number>;
  }

  /** A static + dynamic table entry. */
  export interface HpackTableEntry {
    name: string;
    value: string;
    nameSize: number;
  }

  /** The combined index space of §2.3.3; the dynamic part evicts by §4.4. */
  export interface HpackTable {
    /** Throws for index 0 or one past the end. */
    lookup(index: number): HpackTableEntry;
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    /** Throws above the table's protocol maximum. */
    updateSize(size: number): void;
  }

  /** A field to encode; by default indexed incrementally and Huffman-coded when that is shorter. */
  export interface HpackFieldToEncode {
    name: string;
    value: string;
    neverIndex?: boolean;
    incremental?: boolean;
    huffman?: boolean;
  }

  /** Write one header list at a time; `read()` then returns its block. */
  export interface HpackCompressor {
    write(fields: HpackFieldToEncode[]): boolean;
    read(): Buffer | null;
  }

  const hpack: {
    decompressor: { create(options: HpackDecompressorOptions): HpackDecompressor };
    compressor: { create(options: HpackDecompressorOptions): HpackCompressor };
    decoder: { create(): HpackDecoder };
    table: { create(options: { maxSize: number }): HpackTable };
    utils: { stringify(octets: ArrayLike<number>): string };
  };
  export default hpack;
}
