import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured JSON lines on stderr. Callers add the pod or container ID with
 * `logger.child({ pod: id })` so every line of an operation carries it.
 */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level: level as LevelWithSilent, base: { name: 'runcri' } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything: for unit tests and tools that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
