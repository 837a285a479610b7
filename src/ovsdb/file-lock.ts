/*
 * A lock file beside the database file (".NAME.~lock~" holding the owner's pid), so that
 * vsdb-tool refuses to write a file a running server owns and two servers never share one file.
 * A lock left by a process that no longer exists (kill -9) is taken over; the lock names the
 * owner by pid and start time (/proc/PID/stat), so a new process that reuses the pid of a
 * killed server is not mistaken for the owner. Used by storage.ts.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StorageError } from './log-record.js';

export function lockPath(dbPath: string): string {
  return join(dirname(dbPath), `.${basename(dbPath)}.~lock~`);
}

/** The kernel's start time of `pid` (clock ticks since boot), or '' if unknown. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function alive(pid: number, started: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(pid);
  return !started || !now || started === now;
}

const lockText = (): string => `${process.pid} ${startTime(process.pid)}\n`;

/** The pid holding the lock on `dbPath`, or null if nobody (alive) does. */
export function lockOwner(dbPath: string): number | null {
  try {
    const [pidText, started] = readFileSync(lockPath(dbPath), 'utf8').trim().split(/\s+/);
    const pid = Number(pidText);
    return pid > 0 && alive(pid, started) ? pid : null;
  } catch {
    return null;
  }
}

/** Takes the lock or throws StorageError (code DB_LOCKED) naming the owner. Returns a release function. */
export function acquireLock(dbPath: string): () => void {
  const path = lockPath(dbPath);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, lockText());
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]) === process.pid) unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(dbPath, `cannot create lock file ${path}`, e);
    }
    const owner = lockOwner(dbPath);
    if (owner !== null && owner !== process.pid) {
      throw new StorageError(dbPath, `database is in use by process ${owner} (lock file ${path}); stop it first`, undefined, 'DB_LOCKED');
    }
    // Stale (its process is gone) or ours: replace it.
    try {
      unlinkSync(path);
    } catch {
      /* raced with another remover */
    }
  }
  writeFileSync(path, lockText());
  return () => {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
}
