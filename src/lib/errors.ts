/*
 * Typed errors for the control path. Every error a user or a script can see is a VswitchError
 * with a stable `code` (upper snake case) so callers match on the code, never on the text.
 * The hot path never throws: it counts drops instead (see src/datapath/counters.ts).
 */

export class VswitchError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'VswitchError';
  }
}

/** Thrown when a command line or request is malformed; message says what was expected. */
export class UsageError extends VswitchError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

/** Thrown when a daemon socket cannot be reached (not running, or wrong VSWITCH_RUNDIR). */
export class ConnectError extends VswitchError {
  constructor(path: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super('CONNECT', `cannot connect to ${path}${why} (is vswitch running? check VSWITCH_RUNDIR)`, { cause });
    this.name = 'ConnectError';
  }
}

/** Thrown when a request to a daemon did not get an answer in time. */
export class TimeoutError extends VswitchError {
  constructor(what: string, ms: number) {
    super('TIMEOUT', `${what}: no answer after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}
