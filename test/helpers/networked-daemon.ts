import { TestDaemon, makeTestDirs, type DaemonOptions } from './daemon.js';
import { removeTestNetwork, writeTestNetwork, type TestNetwork } from './cni.js';

/** A daemon whose pods join a bridge network of the test's own. */
export async function startDaemonOnTestNetwork(options: Omit<DaemonOptions, 'dirs'> = {}): Promise<{ daemon: TestDaemon; net: TestNetwork }> {
  const dirs = makeTestDirs();
  const net = writeTestNetwork({ confDir: dirs.cniConf, stateDir: dirs.base });
  try {
    return { daemon: await TestDaemon.start({ ...options, dirs }), net };
  } catch (err) {
    removeTestNetwork(net);
    throw err;
  }
}

/** Destroys what startDaemonOnTestNetwork made (either may be missing after a failed start). */
export async function destroyDaemonOnTestNetwork(daemon: TestDaemon | undefined, net: TestNetwork | undefined): Promise<void> {
  await daemon?.destroy();
  if (net) removeTestNetwork(net);
}
