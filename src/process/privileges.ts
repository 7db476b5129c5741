// -u: look the user up before anything is opened, switch to it once the listeners are bound.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';

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

export function dropPrivileges(user: User): void {
  if (process.getuid?.() !== 0) {
    if (process.getuid?.() === user.uid) return;
    throw new ConfigError(`-u ${user.name}: only root can change user`);
  }
  process.setgroups?.([user.gid]);
  process.setgid?.(user.gid);
  process.setuid?.(user.uid);
}
