import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { RUN, spawnHelper } from '../process/index.js';
import { parseSyncMessage, syncMessages, type SyncMessage } from './sync-pipe.js';

/** What a conmon said on its sync pipe, and how the process the daemon started ended. */
export interface MonitorReport {
  /** Undefined when it closed the pipe without a message. */
  message: SyncMessage | undefined;
  /** Exit code of the process the daemon started (conmon daemonizes: not the monitor's own). */
  code: number | null;
  /** Why it could not be started at all. */
  error?: string;
}

/**
 * A conmon started ahead of its container: it loads and sets itself up, then waits on its
 * start pipe (`_OCI_STARTPIPE`) before it forks the runtime, so its start-up overlaps the
 * daemon's own work on the bundle. It gets no pipe the daemon could close under it except
 * the sync pipe, which it stops writing to once it has reported, and the start pipe, which it
 * closes once read. Runs in the bundle: it writes some files (its `oom` marker) relative to it.
 */
export interface HeldMonitor {
  /** Lets it go on: it runs the runtime's create and reports the container's PID. */
  release(): void;
  /** The first message on the sync pipe and the started process's exit code. */
  report(): Promise<MonitorReport>;
  /** Kills it before its release; resolves once it is gone. */
  abandon(): Promise<void>;
  /** Whether the started process is known to have ended, or the helper that started it has. */
  ended(): boolean;
}

const SYNC_FD = '3';
const START_FD = '4';

export function startMonitor(conmonPath: string, args: string[], cwd: string): HeldMonitor {
  const env = { ...process.env, _OCI_SYNCPIPE: SYNC_FD, _OCI_STARTPIPE: START_FD };
  const helper = spawnHelper();
  if (!helper) return startWithChildProcess(conmonPath, args, cwd, env);
  const proc = helper.run({ file: conmonPath, args, env, cwd, flags: RUN.SETSID | RUN.SYNC_PIPE | RUN.START_PIPE });
  let ended = false;
  void proc.exited.then(() => { ended = true; });
  return {
    ended: () => ended,
    release: () => proc.release(),
    report: async () => {
      const line = await proc.syncLine;
      const exit = await proc.exited;
      const message = line.trim() ? parseSyncMessage(line.trim()) : undefined;
      if (exit.kind === 'error') return { message, code: -1, error: exit.message };
      return { message, code: exit.kind === 'code' ? exit.value : null };
    },
    abandon: async () => {
      proc.kill(osConstants.signals.SIGKILL);
      await proc.exited;
    },
  };
}

/** Without the spawn helper: the daemon forks conmon itself. */
function startWithChildProcess(conmonPath: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): HeldMonitor {
  const child = spawn(conmonPath, args, { cwd, stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'], env, detached: true });
  let ended = false;
  const exited = new Promise<{ code: number | null; error?: string }>((resolve) => {
    child.once('error', (err) => resolve({ code: -1, error: err.message }));
    // 'exit', not 'close': the daemonized conmon keeps the sync pipe open for as long as it lives.
    child.once('exit', (code) => resolve({ code }));
  });
  void exited.then(() => { ended = true; });
  const start = child.stdio[4] as Writable;
  start.on('error', () => undefined);
  return {
    ended: () => ended,
    release: () => start.end('1'),
    report: async () => {
      const messages = syncMessages(child.stdio[3] as Readable);
      const first = await messages.next();
      await messages.return(undefined);
      const { code, error } = await exited;
      return { message: first.done ? undefined : first.value, code, ...(error ? { error } : {}) };
    },
    abandon: async () => {
      child.kill('SIGKILL');
      (child.stdio[3] as Readable).destroy();
      start.destroy();
      await exited;
    },
  };
}
