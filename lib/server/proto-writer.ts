/**
 * A minimal protobuf wire writer for the few responses runcri encodes by hand (the stats
 * lists, which are large and change on every call). It writes into one reused scratch buffer;
 * a nested message reserves one byte for its length and moves its body only in the rare case
 * the length needs more.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const UINT64_LIMIT = 1n << 64n;

export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly starts: number[] = [];
  private readonly halves = new DataView(new ArrayBuffer(8));

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts a new message, keeping the scratch buffer. */
  reset(): void {
    this.pos = 0;
    this.starts.length = 0;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** An unsigned varint of a non-negative integer up to 2^53. */
  private varint(value: number): void {
    this.ensure(10);
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.pos++] = value;
  }

  /**
   * An unsigned varint of a 64-bit value, in two 32-bit halves. The halves come through a
   * DataView: splitting a bigint with `&` and `>>` allocates a bigint per step, and these run
   * for every counter of every container on every stats call.
   */
  private varint64(value: bigint): void {
    this.halves.setBigUint64(0, value, true);
    let lo = this.halves.getUint32(0, true);
    let hi = this.halves.getUint32(4, true);
    this.ensure(10);
    while (hi > 0 || lo >= 0x80) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  uint32(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value >>> 0);
  }

  /** uint64 and non-negative int64 fields. */
  uint64(field: number, value: bigint): void {
    if (value < 0n || value >= UINT64_LIMIT) throw new RangeError(`${value} does not fit an unsigned 64-bit field`);
    this.tag(field, WIRE_VARINT);
    this.varint64(value);
  }

  double(field: number, value: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(field: number, value: string): void {
    const length = Buffer.byteLength(value);
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  /** Bytes that already are a whole field's encoding (tag included), spliced in as they are. */
  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }

  /** Opens a nested message in `field`; `end()` closes it. */
  begin(field: number): void {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.ensure(1);
    this.starts.push(this.pos);
    this.pos += 1;
  }

  end(): void {
    const start = this.starts.pop();
    if (start === undefined) throw new Error('ProtoWriter.end without begin');
    const length = this.pos - start - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    let at = start;
    let value = length;
    while (value >= 0x80) {
      this.buf[at++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[at] = value;
  }

  /** A copy of what was written: the scratch buffer is reused by the next message. */
  finish(): Buffer {
    if (this.starts.length > 0) throw new Error('ProtoWriter.finish with a nested message still open');
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}
