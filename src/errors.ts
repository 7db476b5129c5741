// Every error a user can see is one of these: its message is the one line printed.

/** Control characters (a newline in a quoted argument) shown escaped, so a message stays one line. */
const oneLine = (message: string) => message.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));

/** Bad input on the command line, in a config file or a control command. */
export class ConfigError extends Error {
  readonly code = 'PEN_CONFIG';

  constructor(message: string) {
    super(oneLine(message));
  }
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
