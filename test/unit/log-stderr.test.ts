import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedFsCalls } from '../../lib/util/fs-calls.js';

const logModule = fileURLToPath(new URL('../../lib/log/index.js', import.meta.url));
const sinkModule = fileURLToPath(new URL('../../lib/log/stderr-sink.js', import.meta.url));
const fsCallsModule = fileURLToPath(new URL('../../lib/util/fs-calls.js', import.meta.url));

/**
 * How the child logs: through the daemon's logger (its sink writes through the fs-calls addon
 * where it is built), or through a sink that writes with fs.write whatever is installed.
 */
type Way = 'logger' | 'fs.write';

const prelude: Record<Way, string> = {
  logger: `import { createLogger } from ${JSON.stringify(logModule)};\nconst log = createLogger('info');`,
  'fs.write': `import { StderrSink } from ${JSON.stringify(sinkModule)};\nconst sink = new StderrSink(2, null);\nconst log = { info: (fields, msg) => sink.write(JSON.stringify({ ...fields, msg }) + '\\n') };`,
};

/** Runs `body` in a child whose stderr is a pipe; resolves with its stderr and exit code. */
function runWithLogger(way: Way, body: string, options: { closeStderrFirst?: boolean } = {}): Promise<{ code: number | null; stderr: string; timedOut: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'runcri-log-'));
  const script = join(dir, 'child.mjs');
  writeFileSync(script, `${prelude[way]}\n${body}\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    if (options.closeStderrFirst) child.stderr!.destroy();
    else child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, 10_000);
    // The child starts logging once its stdin closes: by then its stderr reader may be gone.
    child.stdin!.end();
    child.once('exit', (code) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stderr, timedOut });
    });
  });
}

const WAIT_FOR_STDIN_END = "await new Promise((r) => { process.stdin.resume(); process.stdin.on('end', r); });";

describe('the daemon\'s logger', () => {
  // Without the addon, a write under way on the thread pool when the process exits cannot be
  // seen to finish, and under load it may not have run: the first of these lines was lost.
  it('sends every line logged before exit to stderr, in order, the one being written included', { skip: installedFsCalls() ? false : 'native/fs-calls.node is not built' }, async () => {
    const { code, stderr, timedOut } = await runWithLogger('logger', `${WAIT_FOR_STDIN_END}\nfor (let i = 0; i < 500; i++) log.info({ i }, 'line');\nprocess.exit(0);`);
    assert.equal(timedOut, false);
    assert.equal(code, 0);
    const numbers = stderr.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
    assert.deepEqual(numbers, Array.from({ length: 500 }, (_, i) => i));
  });

  it('sends lines logged over time to stderr, in order', async () => {
    const { code, stderr } = await runWithLogger('logger', `${WAIT_FOR_STDIN_END}\nfor (let i = 0; i < 50; i++) { log.info({ i }, 'line'); await new Promise((r) => setTimeout(r, 2)); }\nawait new Promise((r) => setTimeout(r, 50));\nprocess.exit(0);`);
    assert.equal(code, 0);
    assert.deepEqual(stderr.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i), Array.from({ length: 50 }, (_, i) => i));
  });
});

for (const way of ['logger', 'fs.write'] as const) {
  describe(`a sink writing through ${way === 'logger' ? 'the installed way' : 'fs.write'}`, () => {
    it('lets a process whose stderr reader is gone exit, with lines queued at exit', async () => {
      // Lines still queued when the process exits are written synchronously; with nobody reading,
      // each write fails (EPIPE) and must not be retried forever.
      const { code, timedOut } = await runWithLogger(way, `${WAIT_FOR_STDIN_END}\nawait new Promise((r) => setTimeout(r, 100));\nfor (let i = 0; i < 50; i++) log.info({ i }, 'line');\nprocess.exit(0);`, { closeStderrFirst: true });
      assert.equal(timedOut, false, 'the process hung writing to a pipe nobody reads');
      assert.equal(code, 0);
    });

    it('lets a process whose stderr reader is gone keep running and logging', async () => {
      const { code, timedOut } = await runWithLogger(way, `${WAIT_FOR_STDIN_END}\nawait new Promise((r) => setTimeout(r, 100));\nfor (let round = 0; round < 5; round++) { log.info({ round }, 'line'); await new Promise((r) => setTimeout(r, 20)); }\nprocess.exit(3);`, { closeStderrFirst: true });
      assert.equal(timedOut, false);
      assert.equal(code, 3, 'it ran to its own end');
    });
  });
}

describe('a sink whose pipe is full', () => {
  for (const way of ['addon', 'fs.write'] as const) {
    it(`writes at exit all of a text that waits for a full pipe, its retry under way (${way})`, { skip: way === 'addon' && !installedFsCalls() ? 'native/fs-calls.node is not built' : false }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'runcri-log-'));
      const fifo = join(dir, 'log');
      try {
        assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
        // The reader's end first, non-blocking: the child's open does not wait, and its writes
        // find the pipe full (EAGAIN) once 64 KiB are in it, until this side reads.
        const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
        const script = join(dir, 'child.mjs');
        writeFileSync(script, [
          `import fs from 'node:fs';`,
          `import { syncBuiltinESMExports } from 'node:module';`,
          `import { constants as os } from 'node:os';`,
          // The child exits as the sink tries again a text that found the pipe full, its retry
          // under way: the exit must still write all of it. (After a fixed wait instead, the exit
          // came at a different moment under load each time: the test did not say what it tried.)
          `let fullPipeSeen = false;`,
          `let retrying;`,
          `const retry = new Promise((resolve) => { retrying = resolve; });`,
          ...(way === 'addon'
            ? [
              `const { installedFsCalls } = await import(${JSON.stringify(fsCallsModule)});`,
              `const calls = installedFsCalls();`,
              `const writeOnce = calls.writeOnce;`,
              `calls.writeOnce = (fd, data, state) => {`,
              `  if (fullPipeSeen) retrying();`,
              `  return writeOnce.call(calls, fd, data, state).then(() => { if (state[1] === -os.errno.EAGAIN) fullPipeSeen = true; });`,
              `};`,
            ]
            : [
              `const { write, writeSync } = fs;`,
              `fs.write = (...args) => {`,
              `  if (fullPipeSeen) retrying();`,
              `  const callback = args.pop();`,
              `  return write(...args, (err, n) => { if (err?.code === 'EAGAIN') fullPipeSeen = true; callback(err, n); });`,
              `};`,
              `fs.writeSync = (...args) => {`,
              `  if (fullPipeSeen) retrying();`,
              `  try { return writeSync(...args); } catch (err) { if (err.code === 'EAGAIN') fullPipeSeen = true; throw err; }`,
              `};`,
              `syncBuiltinESMExports();`,
            ]),
          `const { StderrSink } = await import(${JSON.stringify(sinkModule)});`,
          `const sink = new StderrSink(fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), ${way === 'addon' ? 'undefined' : 'null'});`,
          `const text = 'x'.repeat(1000);`,
          `for (let i = 0; i < 200; i++) sink.write(JSON.stringify({ i, text }) + '\\n');`,
          `const tooLong = setTimeout(() => { process.stdout.write('no retry of a full pipe\\n'); process.exit(2); }, 10_000);`,
          `await retry;`,
          `clearTimeout(tooLong);`,
          `process.stdout.write('exiting\\n');`,
          `process.exit(0);`,
        ].join('\n'));
        const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
        let said = '';
        await Promise.race([exited, new Promise<void>((resolve) => child.stdout!.on('data', (c: Buffer) => { said += c.toString(); if (said.includes('exiting')) resolve(); }))]);
        // Drained only now, while the exiting child writes what it still has.
        const chunks: Buffer[] = [];
        const buffer = Buffer.alloc(65536);
        let childDone = false;
        void exited.then(() => { childDone = true; });
        for (;;) {
          let n: number;
          try {
            n = readSync(reader, buffer, 0, buffer.length, null);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          if (n === 0 && childDone) break;
          if (n === 0) await new Promise((r) => setTimeout(r, 5));
          chunks.push(Buffer.from(buffer.subarray(0, n)));
        }
        closeSync(reader);
        assert.equal(await exited, 0, said);
        const numbers = Buffer.concat(chunks).toString().trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
        assert.deepEqual(numbers, Array.from({ length: 200 }, (_, i) => i));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
