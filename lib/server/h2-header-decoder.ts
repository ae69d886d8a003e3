/**
 * An HPACK (RFC 7541) decoder that keeps the header list it produces within limits while it
 * decodes, for the :authority filter. HPACK lets a few bytes stand for much more: one octet
 * names a whole dynamic table entry (up to the table's 4 KiB), so 64 KiB of indexed references
 * would decode to 256 MiB of fields. Every field is counted as it is decoded, and the block is
 * refused the moment its list passes the limits; the size of a list is reckoned as RFC 9113
 * §6.5.2 does (name + value + 32 octets per field).
 *
 * The limits default to what Node's HTTP/2 server (nghttp2 underneath) accepts anyway:
 * SETTINGS_MAX_HEADER_LIST_SIZE 65535 and 128 header pairs. A client over them gets nothing it
 * would not have been refused further on; here it costs nothing to refuse it.
 */
import hpack from 'hpack.js';
import type { HpackDecoder, HpackTable } from 'hpack.js';

export interface HeaderListLimits {
  /** Octets of the decoded list, 32 more per field. */
  maxListSize: number;
  maxFields: number;
}

export const DEFAULT_HEADER_LIST_LIMITS: HeaderListLimits = { maxListSize: 64 * 1024, maxFields: 128 };

/** RFC 9113 §6.5.2: what each field costs beyond its octets. */
const FIELD_OVERHEAD = 32;

export interface DecodedField {
  name: string;
  value: string;
  neverIndex?: boolean;
}

/** A header block that decodes past the limits. */
export class HeaderListTooLargeError extends Error {}

/** One connection direction's decoder: its dynamic table carries over from block to block. */
export class BoundedHpackDecoder {
  private readonly decoder: HpackDecoder = hpack.decoder.create();
  private readonly table: HpackTable;

  constructor(tableSize: number, private readonly limits: HeaderListLimits = DEFAULT_HEADER_LIST_LIMITS) {
    this.table = hpack.table.create({ maxSize: tableSize });
  }

  /**
   * The fields of one complete header block. Throws HeaderListTooLargeError past the limits and
   * other errors for malformed HPACK; after either, the table no longer follows the peer's and
   * the connection must go.
   */
  decodeBlock(block: Buffer): DecodedField[] {
    const fields: DecodedField[] = [];
    let listSize = 0;
    if (block.length > 0) this.decoder.push(block);
    while (!this.decoder.isEmpty()) {
      const field = this.decodeRepresentation();
      if (!field) continue;
      listSize += field.name.length + field.value.length + FIELD_OVERHEAD;
      if (fields.length + 1 > this.limits.maxFields) {
        throw new HeaderListTooLargeError(`header block has more than ${this.limits.maxFields} fields`);
      }
      if (listSize > this.limits.maxListSize) {
        throw new HeaderListTooLargeError(`header list exceeds ${this.limits.maxListSize} octets`);
      }
      fields.push(field);
    }
    return fields;
  }

  /** One field representation (§6); null for a dynamic table size update, which is no field. */
  private decodeRepresentation(): DecodedField | null {
    const d = this.decoder;
    if (d.decodeBit()) {
      // §6.1 indexed: the entry's strings are shared, not copied, but they count all the same.
      const entry = this.table.lookup(d.decodeInt());
      return { name: entry.name, value: entry.value, neverIndex: false };
    }
    const incremental = d.decodeBit() === 1;
    let neverIndex = false;
    if (!incremental) {
      if (d.decodeBit()) {
        // §6.3
        this.table.updateSize(d.decodeInt());
        return null;
      }
      neverIndex = d.decodeBit() === 1;
    }
    // §6.2: a literal, its name indexed or literal too.
    const nameIndex = d.decodeInt();
    let name: string;
    if (nameIndex === 0) name = hpack.utils.stringify(d.decodeStr());
    else name = this.table.lookup(nameIndex).name;
    const value = hpack.utils.stringify(d.decodeStr());
    if (incremental) this.table.add(name, value, name.length, value.length);
    return { name, value, neverIndex };
  }
}
