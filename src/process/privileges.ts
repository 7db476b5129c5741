// -u: look the user up before anything is opened, switch to it once the listeners are bound.
import { chownSync, readFileSync } from 'node:fs';
import { ConfigError, messageOf } from '../errors';

export interface User {
  name: string;
  uid: number;
  gid: number;
}

export function lookupUser(name: string): User {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch { /* no passwd file: the user cannot be found */ }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new ConfigError(`-u ${name}: no such user`);
}

/**
 * Becomes the user. `reopened` are files the process opens again later (the log, on HUP): they are
 * given to the user first, as nginx does, so that the reopen works, and so does the new file that
 * logrotate's `create` makes with the old one's owner.
 */
export function dropPrivileges(user: User, reopened: string[]): void {
  if (process.getuid?.() !== 0) {
    if (process.getuid?.() === user.uid) return;
    throw new ConfigError(`-u ${user.name}: only root can change user`);
  }
  for (const file of reopened) {
    try {
      chownSync(file, user.uid, user.gid);
    } catch (err) {
      throw new ConfigError(`-u ${user.name}: can't give ${file} to the user: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
    }
  }
  process.setgroups?.([user.gid]);
  process.setgid?.(user.gid);
  process.setuid?.(user.uid);
}
