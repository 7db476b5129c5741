// What each signal does (README, "Signals and files"): USR1 reports, HUP reloads, TERM and INT
// stop, QUIT drains, USR2 hands the listeners to a new process and then drains. An internal
// error nobody caught stops the process as TERM does.
import { messageOf } from '../errors';
import { diag } from '../reports/diag';
import type { Pen } from './pen';

/** Exit status after an internal error: EX_SOFTWARE, for a supervisor to restart. */
const INTERNAL_ERROR = 70;

/** Wires the signals to `pen`; `argv` starts a successor (USR2), `stop` closes everything and exits with a code. */
export function handleSignals(pen: Pen, argv: string[], stop: (code: number) => Promise<void>): void {
  process.on('SIGUSR1', () => void pen.stats());
  process.on('SIGHUP', () => void pen.reload());
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0)); // Ctrl-C in the foreground: as TERM, so the pid file goes too

  let stopping: 'upgrade' | 'drain' | undefined;
  const drain = () => {
    if (stopping === 'drain') return;
    stopping = 'drain';
    void pen.drain().then(() => stop(0));
  };
  process.on('SIGQUIT', drain); // also while an upgrade starts: this process drains either way
  process.on('SIGUSR2', () => {
    if (stopping !== undefined) return;
    stopping = 'upgrade';
    pen.handOver(argv).then(drain, (err: unknown) => {
      diag(`upgrade: ${messageOf(err)}; this process serves on`);
      if (stopping === 'upgrade') stopping = undefined;
    });
  });

  // after an error nobody caught, the state is unknown: stop as TERM does (the log flushed, the
  // pid file removed) rather than carry on with it; in a worker thread the worker ends instead
  let failed = false;
  process.on('uncaughtException', (err) => {
    diag(`internal error: ${err.stack ?? err}; stopping`);
    if (failed) process.exit(INTERNAL_ERROR); // while stopping: at once
    failed = true;
    void stop(INTERNAL_ERROR);
  });
}
