import { pino, type Logger, type LevelWithSilent } from 'pino';
import { StderrSink } from './stderr-sink.js';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured JSON lines on stderr. Callers add the pod or container ID with
 * `logger.child({ pod: id })` so every line of an operation carries it.
 */
export function createLogger(level: LogLevel = 'info'): Logger {
  // Not pino.destination: its exit flush retries a write that failed with EPIPE forever, so a
  // daemon whose log reader had gone could hang on its way out.
  return pino({ level: level as LevelWithSilent, base: { name: 'runcri' } }, new StderrSink());
}

/** A logger that drops everything: for unit tests and tools that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
