import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TarFormatError, TarReader, parsePaxRecords, type TarEntry } from '../../lib/storage/index.js';
import { headerBlock, member, paxData, tarBytes, type TarEntrySpec } from '../helpers/tar-writer.js';

interface Read {
  entries: (TarEntry & { data: Buffer })[];
  ended: boolean;
}

/** Reads a whole archive, fed in pieces of `step` bytes. */
function readAll(archive: Buffer, step = archive.length || 1): Read {
  const reader = new TarReader();
  const entries: Read['entries'] = [];
  let ended = false;
  const drain = (): void => {
    for (let e = reader.read(); e !== undefined; e = reader.read()) {
      if (e.kind === 'end') { ended = true; return; }
      if (e.kind === 'entry') entries.push({ ...e.entry, data: Buffer.alloc(0) });
      else entries[entries.length - 1]!.data = Buffer.concat([entries[entries.length - 1]!.data, e.chunk]);
    }
  };
  for (let at = 0; at < archive.length; at += step) {
    reader.write(archive.subarray(at, at + step));
    drain();
  }
  reader.close();
  drain();
  return { entries, ended };
}

const two: TarEntrySpec[] = [
  { path: 'dir/', type: 'directory', mode: 0o750, uid: 12, gid: 34 },
  { path: 'dir/file', content: 'hello world', mode: 0o4755, mtime: new Date(1_600_000_000_000) },
];

describe('tar reader', () => {
  it('reads ustar headers: names, types, modes, owners, times, devices, links', () => {
    const archive = tarBytes([
      ...two,
      { path: 'link', type: 'symlink', linkname: '/etc/passwd' },
      { path: 'hard', type: 'link', linkname: 'dir/file' },
      { path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
      { path: 'pipe', type: 'fifo' },
    ]);
    const { entries, ended } = readAll(archive);
    assert.ok(ended);
    assert.deepEqual(entries.map((e) => [e.name, e.type]), [
      ['dir/', 'directory'], ['dir/file', 'file'], ['link', 'symlink'], ['hard', 'link'], ['dev/null', 'character-device'], ['dev/sda', 'block-device'], ['pipe', 'fifo'],
    ]);
    assert.deepEqual([entries[0]!.mode, entries[0]!.uid, entries[0]!.gid], [0o750, 12, 34]);
    assert.deepEqual([entries[1]!.mode, entries[1]!.mtime, entries[1]!.data.toString()], [0o4755, 1_600_000_000, 'hello world']);
    assert.equal(entries[2]!.linkname, '/etc/passwd');
    assert.deepEqual([entries[4]!.devmajor, entries[4]!.devminor], [1, 3]);
  });

  it('gives the same events however the input is cut', () => {
    const archive = tarBytes([...two, { path: 'big', content: Buffer.alloc(70_000, 7) }, { path: `${'long/'.repeat(40)}name`, content: 'x' }]);
    const whole = readAll(archive);
    for (const step of [1, 7, 511, 512, 513, 4096]) assert.deepEqual(readAll(archive, step), whole, `fed ${step} bytes at a time`);
  });

  it('joins the ustar prefix and applies GNU long names', () => {
    const prefixed = headerBlock({ name: 'name', typeflag: '0' });
    prefixed.write('some/prefix', 345, 'latin1');
    // Checksum again after the prefix went in.
    prefixed.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of prefixed) sum += b;
    prefixed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.equal(readAll(Buffer.concat([prefixed, Buffer.alloc(1024)])).entries[0]!.name, 'some/prefix/name');

    const longName = `${'n'.repeat(150)}/file`;
    const longLink = `${'t'.repeat(150)}/target`;
    const { entries } = readAll(tarBytes([{ path: longName, type: 'symlink', linkname: longLink }], { gnuLongNames: true }));
    assert.deepEqual([entries.length, entries[0]!.name, entries[0]!.linkname], [1, longName, longLink]);
  });

  it('applies PAX records and keeps extended attribute values as bytes', () => {
    const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const latin = Buffer.from([0xe9, 0xff, 0x00, 0x80]);
    const { entries } = readAll(tarBytes([{
      path: `${'p'.repeat(120)}/ü-file`,
      content: 'data',
      pax: {
        uid: '1000000', gid: '2000000', mtime: '1350244992.023960108', 'SCHILY.xattr.security.capability': capability,
        'SCHILY.xattr.user.latin': latin, 'SCHILY.xattr.user.text': 'plain', 'SCHILY.xattr.user.empty': '',
      },
    }]));
    const e = entries[0]!;
    assert.equal(e.name, `${'p'.repeat(120)}/ü-file`);
    assert.deepEqual([e.uid, e.gid, e.mtime], [1_000_000, 2_000_000, 1350244992.023960108]);
    assert.deepEqual(e.xattrs.get('security.capability'), capability);
    assert.deepEqual(e.xattrs.get('user.latin'), latin);
    assert.equal(e.xattrs.get('user.text')?.toString(), 'plain');
    assert.ok(!e.xattrs.has('user.empty'), 'an empty PAX value keeps the header value (none)');
    assert.equal(e.data.toString(), 'data');
  });

  it('uses the PAX size and reads base-256 numbers', () => {
    const header = headerBlock({ name: 'f', typeflag: '0', size: 0 });
    const archive = Buffer.concat([member({ name: 'PaxHeader', typeflag: 'x' }, paxData({ size: '3' })), header, Buffer.from('abc'), Buffer.alloc(509 + 1024)]);
    assert.equal(readAll(archive).entries[0]!.data.toString(), 'abc');

    const binary = headerBlock({ name: 'f', typeflag: '0' });
    binary.fill(0, 108, 116);
    binary[108] = 0x80;
    binary.writeUInt32BE(3_000_000_000, 112);
    binary.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of binary) sum += b;
    binary.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.equal(readAll(Buffer.concat([binary, Buffer.alloc(1024)])).entries[0]!.uid, 3_000_000_000);
  });

  it('ignores the size of header-only types and reads global PAX records without applying them', () => {
    const dir = member({ name: 'd/', typeflag: '5', size: 1024 }, Buffer.alloc(0));
    const global = member({ name: 'pax_global_header', typeflag: 'g' }, paxData({ comment: 'git archive', uid: '99' }));
    const { entries } = readAll(Buffer.concat([global, dir, member({ name: 'f', typeflag: '0' }, Buffer.from('x')), Buffer.alloc(1024)]));
    assert.deepEqual(entries.map((e) => [e.name, e.size, e.uid]), [['d/', 0, 0], ['f', 1, 0]]);
  });

  it('treats a trailing slash on an old regular-file typeflag as a directory', () => {
    const { entries } = readAll(Buffer.concat([member({ name: 'old/', typeflag: '\0', magic: 'v7' }), Buffer.alloc(1024)]));
    assert.equal(entries[0]!.type, 'directory');
  });

  describe('where the archive may end', () => {
    const data = Buffer.from('0123456789');
    const body = member({ name: 'a', typeflag: '0' }, data, false);
    const padded = member({ name: 'a', typeflag: '0' }, data);

    it('ends cleanly after two zero blocks, ignoring what follows', () => {
      const r = readAll(Buffer.concat([padded, Buffer.alloc(1024), Buffer.from('trailing garbage')]));
      assert.ok(r.ended);
      assert.equal(r.entries.length, 1);
    });

    it('ends cleanly right after an entry\'s data, without padding or zero blocks (umoci insert)', () => {
      const r = readAll(tarBytes([{ path: 'a', content: 'one' }, { path: 'b', content: 'two' }], { ending: 'bare' }));
      assert.ok(r.ended);
      assert.deepEqual(r.entries.map((e) => e.data.toString()), ['one', 'two']);
    });

    it('ends cleanly inside the padding, at a header boundary, or after one zero block', () => {
      assert.ok(readAll(Buffer.concat([body, Buffer.alloc(100)])).ended);
      assert.ok(readAll(padded).ended);
      assert.ok(readAll(Buffer.concat([padded, Buffer.alloc(512)])).ended);
      assert.ok(readAll(Buffer.alloc(0)).ended);
      const dir = member({ name: 'only-a-dir/', typeflag: '5' });
      assert.ok(readAll(dir).ended);
    });

    it('fails when cut inside data, inside a header, inside a PAX record or inside the second zero block', () => {
      assert.throws(() => readAll(body.subarray(0, 512 + 5)), /inside the data of "a" \(5 bytes missing\)/);
      assert.throws(() => readAll(Buffer.concat([padded, headerBlock({ name: 'b', typeflag: '0' }).subarray(0, 300)])), /inside a header/);
      assert.throws(() => readAll(member({ name: 'PaxHeader', typeflag: 'x' }, paxData({ path: 'x'.repeat(300) })).subarray(0, 600)), /PAX or long-name record/);
      assert.throws(() => readAll(Buffer.concat([padded, Buffer.alloc(700)])), /end-of-archive/);
      assert.throws(() => readAll(headerBlock({ name: 'b', typeflag: '0', size: 1 })), TarFormatError);
    });

    it('refuses a zero block followed by a header', () => {
      assert.throws(() => readAll(Buffer.concat([padded, Buffer.alloc(512), padded])), /zero block followed by a header/);
    });
  });

  it('refuses corrupt headers, sparse files, oversized and malformed records', () => {
    const bad = headerBlock({ name: 'a', typeflag: '0' });
    bad[0] = 0x62;
    assert.throws(() => readAll(Buffer.concat([bad, Buffer.alloc(1024)])), /checksum/);
    assert.throws(() => readAll(Buffer.concat([member({ name: 's', typeflag: 'S' }), Buffer.alloc(1024)])), /sparse/);
    assert.throws(() => readAll(Buffer.concat([member({ name: 'x', typeflag: 'x' }, paxData({ 'GNU.sparse.major': '1' })), member({ name: 'f', typeflag: '0' }), Buffer.alloc(1024)])), /sparse/);
    const huge = headerBlock({ name: 'x', typeflag: 'x', size: 2 * 1024 * 1024 });
    assert.throws(() => readAll(huge), /over the 1048576-byte limit/);
    for (const record of ['5 a=b', '7 a=b\n', '5 =b\n', '4 ab\n', 'x a=b\n', '99 a=b\n', '12 path=a\0b\n']) {
      assert.throws(() => parsePaxRecords(Buffer.from(record)), TarFormatError, JSON.stringify(record));
    }
    assert.throws(() => readAll(Buffer.concat([member({ name: 'x', typeflag: 'x' }, paxData({ uid: 'abc' })), member({ name: 'f', typeflag: '0' }), Buffer.alloc(1024)])), /not a number/);
  });
});
