/*
 * pino loggers for the daemons. A daemon started by `vswitch start` logs to
 * VSWITCH_LOGDIR/<daemon>.log; in the foreground it logs to stdout. Levels can be changed at run
 * time through appctl vlog/set. Hot paths must rate-limit (see RateLimiter).
 */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(name: string, file?: string, level = process.env.VSWITCH_LOG_LEVEL || 'info'): Logger {
  const dest = file ? pino.destination({ dest: file, mkdir: true, sync: true }) : pino.destination(1);
  return pino({ name, level, base: { pid: process.pid } }, dest);
}

/** Allows `burst` events per `intervalMs`; counts what it suppressed. Allocation-free. */
export class RateLimiter {
  private tokens: number;
  private last = 0;
  suppressed = 0;
  constructor(private readonly burst = 5, private readonly intervalMs = 1000) {
    this.tokens = burst;
  }
  allow(now = Date.now()): boolean {
    if (now - this.last >= this.intervalMs) {
      this.tokens = this.burst;
      this.last = now;
    }
    if (this.tokens > 0) {
      this.tokens--;
      return true;
    }
    this.suppressed++;
    return false;
  }
}
