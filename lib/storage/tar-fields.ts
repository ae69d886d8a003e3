/** Field encodings of tar headers and PAX records, as POSIX and GNU tar define them. */
import { FailedPreconditionError } from '../errors/index.js';

/** A layer stream that is not a well-formed tar archive (bad header, cut short, bad PAX record). */
export class TarFormatError extends FailedPreconditionError {}

const BLOCK = 512;

/** A NUL-terminated string field. */
export function cString(block: Buffer, start: number, length: number): string {
  const nul = block.indexOf(0, start);
  const end = nul < 0 || nul > start + length ? start + length : nul;
  return block.toString('utf8', start, end);
}

/** Octal (padded with spaces or NULs) or base-256 (high bit of the first byte set). */
export function numeric(block: Buffer, start: number, length: number, field: string): number {
  const first = block[start]!;
  if (first & 0x80) {
    // Two's complement, big-endian, after the marker bit.
    const invert = first & 0x40 ? 0xff : 0;
    let value = (first ^ invert) & 0x7f;
    for (let i = 1; i < length; i++) {
      value = value * 256 + (block[start + i]! ^ invert);
      if (value > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`tar header: ${field} is out of range`);
    }
    return invert ? -value - 1 : value;
  }
  let i = start;
  const end = start + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`tar header: ${field} is not an octal number`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (block[i] !== 0x20 && block[i] !== 0) throw new TarFormatError(`tar header: ${field} is not an octal number`);
  }
  if (value > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`tar header: ${field} is too large`);
  return digits === 0 ? 0 : value;
}

/** Sum of the block with the checksum field read as spaces; 0 only for an all-zero block. */
export function checksums(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export function decimal(value: Buffer, key: string, allowFraction: boolean): number {
  const text = value.toString('latin1');
  const pattern = allowFraction ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  if (!pattern.test(text)) throw new TarFormatError(`PAX record ${key}: "${text.slice(0, 40)}" is not a number`);
  const n = Number(text);
  if (!Number.isSafeInteger(Math.trunc(n))) throw new TarFormatError(`PAX record ${key}: ${text.slice(0, 40)} is out of range`);
  return n;
}

/**
 * Parses PAX records (`LEN KEY=VALUE\n`, LEN counting the whole record). Values stay bytes:
 * extended attribute values are binary (file capabilities); the keys are text.
 */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0 || space - at > 20) throw new TarFormatError('PAX record without a length');
    const lengthText = data.toString('latin1', at, space);
    if (!/^\d+$/.test(lengthText)) throw new TarFormatError(`PAX record length "${lengthText}" is not a number`);
    const length = Number(lengthText);
    const end = at + length;
    if (length < 5 || end > data.length || end <= space + 1) throw new TarFormatError('PAX record length runs past its header');
    if (data[end - 1] !== 0x0a) throw new TarFormatError('PAX record does not end with a newline');
    const equals = data.indexOf(0x3d, space + 1);
    if (equals < 0 || equals >= end - 1) throw new TarFormatError('PAX record without "="');
    if (equals === space + 1) throw new TarFormatError('PAX record with an empty key');
    const key = data.toString('utf8', space + 1, equals);
    const value = data.subarray(equals + 1, end - 1);
    if (key.includes('\0')) throw new TarFormatError('PAX record key contains NUL');
    if ((key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname') && value.includes(0)) {
      throw new TarFormatError(`PAX record ${key} contains NUL`);
    }
    // Copied: the record outlives the buffer it was read from.
    records.set(key, Buffer.from(value));
    at = end;
  }
  return records;
}
