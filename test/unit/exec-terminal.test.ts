import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { terminalHolder } from '../../lib/oci/exec-session.js';

/*
 * A tty exec runs runc under util-linux `script`, and a resize is set on the terminal of
 * script's child. Right after the fork that child's stdin is still script's own (a pipe), so
 * these run the real `script` and set the size the moment the holder is known, as a client that
 * resizes at once makes the exec session do.
 */
test('a terminal size set on the holder as soon as it is known reaches the command script runs', async () => {
  for (let i = 0; i < 15; i++) {
    const script = spawn('script', ['--quiet', '--return', '--command', 'sleep 0.2; stty size', '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let output = '';
    script.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    const closed = new Promise((r) => script.once('close', r));
    try {
      const holder = await terminalHolder(script.pid!, () => false);
      assert.ok(holder, 'script has a child');
      assert.match(readlinkSync(`/proc/${holder}/fd/0`), /^\/dev\/pts\//);
      await new Promise<void>((resolve, reject) => {
        execFile('stty', ['-F', `/proc/${holder}/fd/0`, 'rows', String(30 + i), 'cols', String(90 + i)], { timeout: 5000 }, (err) => (err ? reject(err) : resolve()));
      });
      await closed;
      assert.equal(output.trim(), `${30 + i} ${90 + i}`);
    } finally {
      script.kill();
      await closed;
    }
  }
});
