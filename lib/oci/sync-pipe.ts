import type { Readable } from 'node:stream';

/** One message conmon writes on its sync pipe (`_OCI_SYNCPIPE`), API version 1. */
export interface SyncMessage {
  data: number;
  message?: string;
}

/**
 * Splits conmon's sync pipe into its newline-terminated JSON messages. Yields until the pipe
 * closes; conmon writes the container PID first and, for an exec, the exit status second.
 */
export async function* syncMessages(stream: Readable): AsyncGenerator<SyncMessage> {
  let buffered = '';
  for await (const chunk of stream) {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) yield parseSyncMessage(line);
    }
  }
  if (buffered.trim()) yield parseSyncMessage(buffered.trim());
}

export function parseSyncMessage(line: string): SyncMessage {
  const parsed = JSON.parse(line) as { data?: number; pid?: number; message?: string };
  return { data: parsed.data ?? parsed.pid ?? -1, ...(parsed.message ? { message: parsed.message } : {}) };
}
