/**
 * Domain errors. Every module throws one of these for a failure a caller can act on;
 * the server's one wrapper maps the kind to a gRPC status code. Anything else that escapes
 * a handler is a bug and becomes INTERNAL.
 */
export type ErrorKind =
  | 'not_found'
  | 'invalid_argument'
  | 'already_exists'
  | 'failed_precondition'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'resource_exhausted'
  | 'unimplemented'
  | 'cancelled'
  | 'internal';

export class RuntimeError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

export class NotFoundError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not_found', message, options);
  }
}

export class InvalidArgumentError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_argument', message, options);
  }
}

export class AlreadyExistsError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('already_exists', message, options);
  }
}

export class FailedPreconditionError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('failed_precondition', message, options);
  }
}

export class UnavailableError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}

export class DeadlineExceededError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('deadline_exceeded', message, options);
  }
}

export class ResourceExhaustedError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('resource_exhausted', message, options);
  }
}

export class UnimplementedError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unimplemented', message, options);
  }
}

export class CancelledError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('cancelled', message, options);
  }
}

export class InternalError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}

export function isRuntimeError(err: unknown): err is RuntimeError {
  return err instanceof RuntimeError;
}

/** The message of anything thrown, for wrapping into a domain error. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
