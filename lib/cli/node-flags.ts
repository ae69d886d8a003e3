/**
 * V8 flags the daemon runs with (bin/runcri passes the same): two background threads keep an
 * idle daemon small. The young generation keeps V8's default size: capped at 1 MiB, it made
 * stats calls promote their garbage to the old generation, whose collections then set the
 * p99 of ListContainerStats (11-20 ms at 100 containers, against 9-14 ms uncapped), for
 * 3 MiB less idle RSS. The build makes the bundle's code cache with these flags too: V8
 * refuses a cache made under other flags.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--v8-pool-size=2'];
