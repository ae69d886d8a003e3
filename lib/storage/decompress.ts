import { Duplex, PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FailedPreconditionError } from '../errors/index.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The layer compression a media type names; docker's and OCI's spellings both. */
export function compressionOf(mediaType: string): Compression {
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip') || mediaType === '') return 'gzip';
  return 'none';
}

/**
 * Node 20's zlib has no zstd, so zstd layers go through Debian's `zstd -dc`: the reference
 * decoder, faster than any JavaScript one, and it runs on the other core. child_process is
 * loaded for the first zstd layer: it brings net and dgram with it, which an unpack worker
 * for gzip layers would load for nothing.
 */
async function zstdDecoder(): Promise<Duplex> {
  const { spawn } = await import('node:child_process');
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => { stderr += chunk; });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (err) => duplex.destroy(new FailedPreconditionError(`zstd: ${err.message}`)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && !duplex.destroyed) {
      duplex.destroy(new FailedPreconditionError(`zstd layer could not be decompressed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    }
  });
  duplex.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return duplex;
}

export async function decompressor(compression: Compression): Promise<Duplex> {
  switch (compression) {
    case 'gzip':
      return createGunzip({ chunkSize: 128 * 1024 });
    case 'zstd':
      return zstdDecoder();
    case 'none':
      return new PassThrough();
  }
}
