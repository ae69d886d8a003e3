/**
 * ListContainers against StreamContainers at node scale: 5,000 container records (written to
 * the state store, recovered by the daemon) listed whole, 50 times each way. Time is from the
 * request to the last byte read, the stream's also to its first batch; memory is the daemon's
 * peak resident set above where it stood before the calls (VmHWM reset through clear_refs);
 * and the largest message each way. ListContainers is the floor the stream is held against.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, makeTestDirs, removeTestDirs } from '../test/helpers/daemon.js';
import { seedRecords } from '../test/helpers/seed-records.js';
import { loadCriProto } from '../lib/server/proto.js';
import { compare, metric, percentile } from './report.js';

const CONTAINERS = 5000;
const PODS = 250;
const CALLS = 50;
const WARMUP = 5;

interface Reading { ms: number; firstMs: number; messages: number; largest: number; bytes: number }

function rawCall(client: grpc.Client, method: 'ListContainers' | 'StreamContainers'): Promise<Reading> {
  const definition = loadCriProto().runtime.v1.RuntimeService.service[method]!;
  const serialize = definition.requestSerialize as (r: unknown) => Buffer;
  const started = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - started) / 1e6;
  const reading: Reading = { ms: 0, firstMs: 0, messages: 0, largest: 0, bytes: 0 };
  const note = (b: Buffer) => {
    if (reading.messages === 0) reading.firstMs = since();
    reading.messages++;
    reading.bytes += b.length;
    reading.largest = Math.max(reading.largest, b.length);
  };
  return new Promise((resolve, reject) => {
    if (method === 'ListContainers') {
      client.makeUnaryRequest(definition.path, serialize, (b: Buffer) => b, {}, (err, value) => {
        if (err) return reject(err);
        note(value!);
        reading.ms = since();
        resolve(reading);
      });
      return;
    }
    const call = client.makeServerStreamRequest(definition.path, serialize, (b: Buffer) => b, { filter: {} });
    call.on('data', note);
    call.on('error', reject);
    call.on('end', () => {
      reading.ms = since();
      resolve(reading);
    });
  });
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

/**
 * A daemon of its own for each way, so neither inherits a heap the other grew: the calls'
 * readings, and the daemon's peak RSS rise (MiB) over them from where it stood once warmed up.
 */
async function measure(dirs: ReturnType<typeof makeTestDirs>, method: 'ListContainers' | 'StreamContainers'): Promise<{ readings: Reading[]; peakRiseMiB: number }> {
  const daemon = await TestDaemon.start({ dirs, logLevel: 'warn' });
  try {
    const client = daemon.client.runtimeClient as unknown as grpc.Client;
    // Its own way only, a few times: the per-container encodings are made on the first call.
    for (let i = 0; i < WARMUP; i++) await rawCall(client, method);
    await new Promise((r) => setTimeout(r, 1000));
    writeFileSync(`/proc/${daemon.pid}/clear_refs`, '5');
    const before = status(daemon.pid, 'VmRSS');
    const readings: Reading[] = [];
    for (let i = 0; i < CALLS; i++) readings.push(await rawCall(client, method));
    return { readings, peakRiseMiB: (status(daemon.pid, 'VmHWM') - before) / 1024 };
  } finally {
    await daemon.stop();
  }
}

export async function run(): Promise<void> {
  const dirs = makeTestDirs();
  try {
    seedRecords(dirs.root, dirs.base, PODS, CONTAINERS);
    const list = await measure(dirs, 'ListContainers');
    const stream = await measure(dirs, 'StreamContainers');
    const ms = (r: { readings: Reading[] }, p: number) => percentile(r.readings.map((x) => x.ms), p);
    compare('stream_containers_5000_p50', ms(stream, 50), ms(list, 50), 'ms');
    compare('stream_containers_5000_p99', ms(stream, 99), ms(list, 99), 'ms');
    metric('stream_containers_5000_first_batch_p50', percentile(stream.readings.map((x) => x.firstMs), 50), 'ms');
    compare('stream_containers_5000_peak_rss_rise', stream.peakRiseMiB, list.peakRiseMiB, 'MiB');
    compare('stream_containers_5000_largest_message', stream.readings[0]!.largest / 1024, list.readings[0]!.largest / 1024, 'KiB');
    metric('stream_containers_5000_messages', stream.readings[0]!.messages, 'messages');
    metric('list_containers_5000_bytes', list.readings[0]!.bytes / 1024, 'KiB');
  } finally {
    removeTestDirs(dirs);
  }
}
