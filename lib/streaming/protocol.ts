/**
 * The Kubernetes streaming wire facts shared by SPDY and WebSocket: protocol names, stream
 * names, the Status object of the v4+ error stream, and the terminal size messages.
 */
export const RemoteCommandProtocol = {
  V1: 'channel.k8s.io',
  V2: 'v2.channel.k8s.io',
  V3: 'v3.channel.k8s.io',
  V4: 'v4.channel.k8s.io',
  V5: 'v5.channel.k8s.io',
} as const;

/** SPDY remote-command protocols in the order the server prefers them. */
export const SPDY_REMOTE_COMMAND_PROTOCOLS = [RemoteCommandProtocol.V4, RemoteCommandProtocol.V3, RemoteCommandProtocol.V2, RemoteCommandProtocol.V1];
export const SPDY_PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

export const StreamType = {
  ERROR: 'error',
  STDIN: 'stdin',
  STDOUT: 'stdout',
  STDERR: 'stderr',
  RESIZE: 'resize',
  DATA: 'data',
} as const;

/** How a finished command is reported on the error stream of a protocol. */
export type ErrorEncoding = 'status' | 'text';

/** The outcome of a remote command: an exit code, or a failure that is not one. */
export type { ExecOutcome as CommandOutcome } from '../oci/index.js';
import type { ExecOutcome as CommandOutcome, TerminalSize } from '../oci/index.js';
export type { TerminalSize };

export function statusErrorEncoding(protocol: string): ErrorEncoding {
  return /^v[45]\./.test(protocol) ? 'status' : 'text';
}

/**
 * What goes on the error stream when the command finished; null means nothing (success on the
 * text protocols). The v4 Status is the shape kubectl decodes into an exit code.
 */
export function encodeOutcome(outcome: CommandOutcome, encoding: ErrorEncoding, command: string[]): Buffer | null {
  if ('exitCode' in outcome && outcome.exitCode === 0) {
    return encoding === 'status' ? Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' })) : null;
  }
  if ('exitCode' in outcome) {
    const message = `command terminated with non-zero exit code: error executing command ${JSON.stringify(command)}, exit code ${outcome.exitCode}`;
    if (encoding === 'text') return Buffer.from(message);
    return Buffer.from(JSON.stringify({
      metadata: {},
      status: 'Failure',
      message,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
    }));
  }
  if (encoding === 'text') return Buffer.from(outcome.error);
  return Buffer.from(JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${outcome.error}`,
    reason: 'InternalError',
    details: { causes: [{ message: outcome.error }] },
    code: 500,
  }));
}


/** `{"Width":W,"Height":H}`; anything else is ignored rather than trusted. */
export function parseTerminalSize(text: string): TerminalSize | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { Width, Height } = value as { Width?: unknown; Height?: unknown };
  if (!Number.isInteger(Width) || !Number.isInteger(Height)) return undefined;
  const width = Width as number;
  const height = Height as number;
  if (width < 0 || height < 0 || width > 0xffff || height > 0xffff) return undefined;
  return { width, height };
}

/**
 * Splits a byte stream of concatenated JSON objects (what Go's json.Encoder writes on the SPDY
 * resize stream, with or without newlines) into whole objects.
 */
export class JsonObjectSplitter {
  private buffer = '';

  push(chunk: string): string[] {
    this.buffer += chunk;
    const out: string[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}' && depth > 0) {
        depth--;
        if (depth === 0) {
          out.push(this.buffer.slice(start, i + 1));
          consumed = i + 1;
        }
      } else if (depth === 0) consumed = i + 1;
    }
    this.buffer = this.buffer.slice(consumed);
    // A peer that never closes its braces must not grow this without bound.
    if (this.buffer.length > 4096) this.buffer = '';
    return out;
  }
}
