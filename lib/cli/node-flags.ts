/**
 * V8 flags the daemon runs with (bin/runcri passes the same): a 1 MiB young generation and
 * two background threads keep an idle daemon small; its requests allocate little. The build makes
 * the bundle's code cache with them too: V8 refuses a cache made under other flags.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=2'];
