/**
 * A child process for the durability test: writes pod records one by one and prints each ID
 * once `put` has returned (the point at which the daemon would answer the RPC).
 */
import { StateStore } from '../../lib/state/index.js';

const store = StateStore.open(process.argv[2]!);
const pods = store.table<{ id: string; n: number; payload: string }>('pods');
for (let n = 0; ; n++) {
  const id = `pod-${n}`;
  pods.put({ id, n, payload: 'x'.repeat(512) });
  if (n % 3 === 0 && n > 0) pods.delete(`pod-${n - 1}`);
  process.stdout.write(`${id}\n`);
}
