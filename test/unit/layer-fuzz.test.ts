/**
 * Seeded fuzzing of the tar reader and the layer unpacker: random archives built from hostile
 * pieces (escaping names, symlinks out, hard links, whiteouts, long names, PAX records), then
 * mutated (bytes flipped, cut, blocks repeated or dropped). Whatever the input, nothing is
 * written outside the layer directory, the process does not crash, and the only errors are
 * the domain errors. Bounded in iterations and time; RUNCRI_FUZZ_SEED replays one seed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { isRuntimeError } from '../../lib/errors/index.js';
import { TarFormatError, TarReader, unpackLayer } from '../../lib/storage/index.js';
import { member, paxData, tarBytes, type TarEntrySpec } from '../helpers/tar-writer.js';

const ITERATIONS = 1000;
const BUDGET_MS = 20_000;
const SEED = Number(process.env.RUNCRI_FUZZ_SEED ?? 20240611);

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A snapshot of a tree: path → kind and content, without following symlinks. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      out.set(rel, `dir ${st.mode}`);
      for (const name of readdirSync(abs)) walk(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) out.set(rel, `link ${readlinkSync(abs)}`);
    else if (st.isFile()) out.set(rel, `file ${st.mode} ${readFileSync(abs, 'latin1')}`);
    else out.set(rel, `other ${st.mode} ${st.rdev}`);
  };
  walk('');
  return out;
}

describe('layer unpacker under fuzzing', () => {
  let base: string;
  let outside: string;
  let outsideBefore: Map<string, string>;
  before(() => {
    base = mkdtempSync('/tmp/rct-fuzz-');
    outside = join(base, 'outside');
    mkdirSync(join(outside, 'etc'), { recursive: true });
    writeFileSync(join(outside, 'etc', 'passwd'), 'root:x:0:0\n');
    outsideBefore = snapshot(outside);
  });
  after(() => spawnSync('rm', ['-rf', '--one-file-system', '--', base]));

  function randomArchive(rand: () => number): Buffer {
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    // Few names, so that later entries often land on or under what earlier ones made.
    const names = ['a', 'etc', 'etc/passwd', 'l', 'l/new', 'l/etc/new', 'l/etc/passwd', 'd/.wh.a', 'd/a', '.wh.l', '.wh..wh..opq', 'd/.wh..wh..opq',
      '.wh.', '.wh..', '.wh...', '../outside/new', `${outside}/new`, 'a/../new', './l/x', 'n'.repeat(150), `deep/${'q/'.repeat(60)}f`, 'ü/ß'];
    const targets = ['/', outside, `${outside}/etc`, '../outside', '../../', '/etc', `${outside}/etc/passwd`];
    const entries: TarEntrySpec[] = [];
    const count = 1 + Math.floor(rand() * 8);
    for (let i = 0; i < count; i++) {
      const type = pick(['file', 'file', 'file', 'directory', 'directory', 'symlink', 'symlink', 'link', 'fifo'] as const);
      const entry: TarEntrySpec = { path: pick(names), type, mode: Math.floor(rand() * 0o10000) | 0o200 };
      if (type === 'file') entry.content = Buffer.alloc(Math.floor(rand() * 1500), 0x41 + i);
      if (type === 'symlink' || type === 'link') entry.linkname = rand() < 0.6 ? pick(targets) : pick(names);
      if (rand() < 0.2) entry.pax = { [pick(['SCHILY.xattr.user.x', 'SCHILY.xattr.trusted.overlay.opaque', 'SCHILY.xattr.security.selinux', 'path', 'linkpath', 'uid', 'mtime'])]: pick(['y', '..', outside, '12', '-1', '1.5', '']) };
      entries.push(entry);
    }
    return tarBytes(entries, { ending: pick(['blocks', 'padded', 'bare'] as const), gnuLongNames: rand() < 0.3 });
  }

  function mutate(archive: Buffer, rand: () => number): Buffer {
    let out = Buffer.from(archive);
    const rounds = 1 + Math.floor(rand() * 2);
    for (let r = 0; r < rounds && out.length > 0; r++) {
      const at = Math.floor(rand() * out.length);
      switch (Math.floor(rand() * 6)) {
        case 0: out[at] = Math.floor(rand() * 256); break;
        case 1: out = out.subarray(0, at); break;
        case 2: out = Buffer.concat([out.subarray(0, at), out.subarray(at - (at % 512), at - (at % 512) + 512), out.subarray(at)]); break;
        case 3: out = Buffer.concat([out.subarray(0, at - (at % 512)), out.subarray(at - (at % 512) + 512)]); break;
        case 4: out = Buffer.concat([out, member({ name: 'x', typeflag: pick(rand, ['x', 'g', 'L', 'K', '0', '7', 'V']) }, paxData({ path: '../escape', 'SCHILY.xattr.user.q': Buffer.from([0xff]) }))]); break;
        default: out.write('777777777777', at, 'latin1'); break;
      }
    }
    return out;
  }

  function pick<T>(rand: () => number, items: readonly T[]): T {
    return items[Math.floor(rand() * items.length)]!;
  }

  it(`never writes outside the layer, never crashes, throws only domain errors (seed ${SEED})`, async (t) => {
    const rand = prng(SEED);
    const started = Date.now();
    let ok = 0;
    let refused = 0;
    let i = 0;
    for (; i < ITERATIONS && Date.now() - started < BUDGET_MS; i++) {
      const archive = rand() < 0.5 ? randomArchive(rand) : mutate(randomArchive(rand), rand);
      const dir = join(base, `l${i}`);
      mkdirSync(dir);
      // Fed in random pieces, as a network stream arrives.
      const pieces: Buffer[] = [];
      for (let at = 0; at < archive.length;) {
        const size = 1 + Math.floor(rand() * 2000);
        pieces.push(archive.subarray(at, at + size));
        at += size;
      }
      try {
        await unpackLayer(pieces, dir);
        ok++;
      } catch (err) {
        assert.ok(isRuntimeError(err), `iteration ${i}: not a domain error: ${String((err as Error)?.stack ?? err)}`);
        refused++;
      }
      assert.deepEqual(snapshot(outside), outsideBefore, `iteration ${i} wrote outside the layer`);
      assert.deepEqual(readdirSync(base).filter((n) => !/^l\d+$/.test(n)).sort(), ['outside'], `iteration ${i} created something beside the layer`);
      spawnSync('rm', ['-rf', '--', dir]);
    }
    t.diagnostic(`${i} archives: ${ok} unpacked, ${refused} refused`);
    assert.ok(i >= 50, `only ${i} iterations ran in the time budget`);
    assert.ok(ok > 0 && refused > 0, `both outcomes seen (${ok} unpacked, ${refused} refused)`);
  });

  it('the reader alone takes random bytes without crashing, throwing only format errors', () => {
    const rand = prng(SEED + 1);
    for (let i = 0; i < 2000; i++) {
      const reader = new TarReader();
      const length = Math.floor(rand() * 3000);
      const bytes = Buffer.alloc(length);
      for (let j = 0; j < length; j++) bytes[j] = rand() < 0.5 ? 0 : Math.floor(rand() * 256);
      // A valid header now and then, so parsing goes past the first block.
      const input = rand() < 0.5 ? Buffer.concat([member({ name: 'f', typeflag: '0' }, bytes.subarray(0, 100)), bytes]) : bytes;
      try {
        reader.write(input);
        reader.close();
        for (let e = reader.read(); e !== undefined && e.kind !== 'end'; e = reader.read()) { /* drain */ }
      } catch (err) {
        assert.ok(err instanceof TarFormatError, `not a format error: ${String(err)}`);
      }
    }
  });
});
