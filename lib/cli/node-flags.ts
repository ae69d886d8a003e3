/**
 * V8 flags the daemon runs with (bin/runcri passes the same): a 1 MiB young generation and
 * two background threads keep the daemon small. A larger young generation shortens the tail of
 * ListContainerStats (p99 at 100 containers, alternated runs: 11-20 ms at 1 MiB, 10-15 ms at
 * 4 MiB, 9-14 ms at V8's default) but the daemon keeps it once grown: after 1,000 create and
 * remove cycles its RSS was 96 MiB at 1 MiB, 108 at 4 MiB and 126 at the default.
 * The build makes the bundle's code cache with these flags too: V8 refuses a cache made under
 * other flags.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=2'];
