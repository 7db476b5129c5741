// Every error a user can see is one of these: its message is the one line printed.

/** Bad input on the command line, in a config file or a control command. */
export class ConfigError extends Error {
  readonly code = 'PEN_CONFIG';
}

/** Something the operating system refused (bind, open, setuid…). */
export class SystemError extends Error {
  readonly code = 'PEN_SYSTEM';
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const sys = err as NodeJS.ErrnoException;
    if (sys.code && sys.syscall && !(err instanceof ConfigError)) {
      return `${sys.syscall} ${sys.code}${sys.path ? ` ${sys.path}` : ''}`;
    }
    return err.message;
  }
  return String(err);
}
