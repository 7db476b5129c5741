// `workers N`: N worker threads, each listening on the same address (SO_REUSEPORT: the kernel
// spreads the clients) and serving from the shared tables. The main thread starts them, hands
// them the configuration after every change, writes their log lines, keeps their TLS sessions,
// and replaces one that dies.
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ConnectionTable, QueuedBytes } from '../balancer/connection-table';
import type { ClientTable } from '../balancer/client-table';
import { HeldTcpSocket, SharedUnixSocket } from '../listeners/listen';
import { SessionIndex, type MemorySessionStore } from '../listeners/tls-sessions';
import { diag, isSyslog } from '../reports/diag';
import type { RequestLog } from '../reports/request-log';
import type { Configuration, FromWorker, SharedTables, ToWorker, WorkerStart } from './worker-messages';

/** Node 22.12 is the first with `reusePort` for listeners. */
export const WORKERS_NODE = [22, 12];

export function workersSupported(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > WORKERS_NODE[0]! || (major === WORKERS_NODE[0] && minor >= WORKERS_NODE[1]!);
}

interface Owner {
  tables: SharedTables;
  connections: ConnectionTable;
  clients: ClientTable;
  sessions: MemorySessionStore;
  /** the configuration to start a worker with, and to hand over after a change */
  configuration(): Configuration;
  log(): RequestLog | undefined;
}

/** A worker's answer to a request sent to all of them. */
type Answer = Extract<FromWorker, { seq: number }>;

interface Awaited {
  left: number;
  answers: Answer[];
  done: (answers: Answer[]) => void;
}

/** A worker that dies before it answers (it is replaced) is not waited for longer than this. */
const ANSWER_MS = 5000;
/** `worker N kill` terminates a worker that has not ended by itself this long after it was told to. */
const KILL_MS = 1000;

export class WorkerPool {
  /** by thread number less one; undefined once it has exited and until its replacement starts */
  private readonly workers: Array<Worker | undefined> = [];
  private stopping = false;
  /** QUIT or an upgrade: no new clients, so a worker that dies is not replaced */
  private draining = false;
  private ticketKeys: Buffer = Buffer.alloc(0);
  private seq = 0;
  /** requests sent to every worker, by number, until each has answered */
  private readonly awaited = new Map<number, Awaited>();
  /** the listening unix socket the workers share, when the listener is one */
  private unix: SharedUnixSocket | undefined;
  /** each worker's TCP socket, by thread number less one, when the listener is one (see HeldTcpSocket) */
  private held: Array<HeldTcpSocket | undefined> = [];
  private readonly sessionIndexMemory = SessionIndex.memory();
  private readonly sessionIndex = new SessionIndex(this.sessionIndexMemory);
  /** rebuilds the session index once per session lifetime, forgetting expired sessions */
  private readonly indexRebuild: NodeJS.Timeout;

  constructor(readonly count: number, private readonly owner: Owner) {
    owner.sessions.watchTicketKeys((keys) => {
      this.ticketKeys = keys;
      this.postAll({ type: 'ticketKeys', keys });
    });
    this.indexRebuild = setInterval(() => this.sessionIndex.rebuild(owner.sessions.ids()), owner.sessions.lifetime * 1000).unref();
  }

  /**
   * Starts every worker; fails with the first worker's error (then none is left running).
   * `handover`: listening sockets of the process before (USR2), one for each worker that has one.
   */
  async open(handover: number[] = []): Promise<void> {
    const { settings } = this.owner.configuration();
    this.unix = await this.unixSocket(settings.listen!);
    for (const fd of handover.slice(this.count)) {
      diag(`upgrade: ${handover.length} listening sockets handed over for ${this.count} workers; closing one (clients waiting in it are reset)`);
      closeSync(fd);
    }
    const given: Array<number | undefined> = handover.slice(0, this.count);
    if (this.unix === undefined && !settings.udp) {
      this.held = Array.from({ length: this.count }, (_, i) => {
        const fd = given[i];
        const socket = fd === undefined ? HeldTcpSocket.bind(settings.listen!) : HeldTcpSocket.adopt(fd);
        if (socket !== undefined) given[i] = undefined; // held here: the worker gets a copy
        return socket;
      });
    }
    // the copies every worker and its replacements will listen on, while the helper that makes them can still start (before -u)
    await Promise.all([this.unix?.reserve(this.count), ...this.held.map((socket) => socket?.reserve(1))]);
    const started = Array.from({ length: this.count }, (_, i) => this.start(i + 1, given[i]));
    const failures = (await Promise.all(started)).filter((e): e is string => e !== undefined);
    if (failures.length > 0) {
      await this.close();
      throw new Error(failures[0]);
    }
  }

  /** A unix socket for the workers to share, when address is a path. */
  private async unixSocket(address: string): Promise<SharedUnixSocket | undefined> {
    return address.includes('/') ? SharedUnixSocket.bind(address, this.owner.configuration().settings.listenQueue) : undefined;
  }

  /** Starts worker `thread` (listening on `listenFd` when given); resolves with undefined once it listens, or with why it could not. */
  private async start(thread: number, listenFd?: number): Promise<string | undefined> {
    try {
      listenFd ??= await (this.unix?.copy() ?? this.held[thread - 1]?.copy());
    } catch (err) {
      return (err as Error).message;
    }
    if (this.stopping) { // TERM came while the copy was made
      if (listenFd !== undefined) closeSync(listenFd);
      return 'stopping';
    }
    const data: WorkerStart = {
      thread, tables: this.owner.tables, configuration: this.owner.configuration(), ticketKeys: this.ticketKeys,
      sessionLifetime: this.owner.sessions.lifetime, sessionIndex: this.sessionIndexMemory, syslog: isSyslog(), listenFd,
    };
    const worker = new Worker(join(__dirname, 'worker.js'), { workerData: data });
    this.workers[thread - 1] = worker;
    let served = false;
    return new Promise((resolve) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          served = true;
          resolve(undefined);
        } else if (m.type === 'failed') {
          resolve(m.message);
        } else {
          this.handle(worker, m);
        }
      });
      worker.on('error', (err) => diag(`worker ${thread}: ${err.stack ?? err.message}`));
      worker.on('exit', (code) => {
        resolve(`worker ${thread} stopped before it listened (exit code ${code})`);
        if (this.workers[thread - 1] !== worker) return;
        this.workers[thread - 1] = undefined;
        // one that never served would fail again at once, and again: the others serve on
        if (!this.stopping && served) this.replace(thread, code);
      });
    });
  }

  /** A worker died: what it held is given back, and a new one takes its place (not while draining: it would take new clients). */
  private replace(thread: number, code: number): void {
    const freed = this.owner.connections.freeFor(thread);
    this.owner.clients.releaseFor(thread);
    if (this.draining) return diag(`worker ${thread} died (exit code ${code}) with ${freed} connections; not replaced while draining`);
    diag(`worker ${thread} died (exit code ${code}) with ${freed} connections; starting a new one`);
    void this.start(thread).then((error) => {
      if (error) diag(`worker ${thread}: ${error}; not replaced, the other workers serve on`);
      else diag(`worker ${thread} is serving again`);
    });
  }

  private handle(worker: Worker, m: FromWorker): void {
    switch (m.type) {
      case 'log': {
        const log = this.owner.log();
        if (!log) return;
        for (const r of m.records) {
          if (typeof r === 'string') log.line(r);
          else log.record(...r);
        }
        return;
      }
      case 'getSession':
        return this.owner.sessions.get(Buffer.from(m.id), (session) => worker.postMessage({ type: 'session', seq: m.seq, session } satisfies ToWorker));
      case 'setSession': {
        const id = Buffer.from(m.id);
        this.sessionIndex.add(id);
        return this.owner.sessions.set(id, Buffer.from(m.session), () => {});
      }
      case 'listened':
      case 'listenerFd':
      case 'draining':
      case 'queued': {
        const wait = this.awaited.get(m.seq);
        if (!wait) return;
        wait.answers.push(m);
        if (--wait.left === 0) wait.done(wait.answers);
        return;
      }
      default:
    }
  }

  /**
   * Sends every worker a request (`send` posts it, numbered `seq`) and resolves with their answers;
   * after ANSWER_MS with those that came.
   */
  private askAll<A extends Answer>(send: (worker: Worker, i: number, seq: number) => void): Promise<A[]> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const done = (answers: Answer[]) => {
        clearTimeout(late);
        this.awaited.delete(seq);
        resolve(answers as A[]);
      };
      const late = setTimeout(() => done(this.awaited.get(seq)?.answers ?? []), ANSWER_MS);
      const running = this.workers.filter((worker) => worker !== undefined);
      if (running.length === 0) return done([]);
      this.awaited.set(seq, { left: running.length, answers: [], done });
      this.workers.forEach((worker, i) => worker && send(worker, i, seq));
    });
  }

  /** Every worker's listening socket, for a successor (USR2). */
  async listenerFds(): Promise<number[]> {
    const answers = await this.askAll<Extract<Answer, { type: 'listenerFd' }>>((worker, _i, seq) => worker.postMessage({ type: 'listenerFd', seq } satisfies ToWorker));
    return answers.map((a) => a.fd).filter((fd): fd is number => fd !== undefined);
  }

  /** The bytes waiting in every worker's connections, for a report. */
  async queued(): Promise<QueuedBytes> {
    const answers = await this.askAll<Extract<Answer, { type: 'queued' }>>((worker, _i, seq) => worker.postMessage({ type: 'queued', seq } satisfies ToWorker));
    const queued = new Map<number, [number, number]>();
    for (const { bytes } of answers) {
      for (let i = 0; i < bytes.length; i += 3) queued.set(bytes[i]!, [bytes[i + 1]!, bytes[i + 2]!]);
    }
    return queued;
  }

  private postAll(message: ToWorker): void {
    for (const worker of this.workers) worker?.postMessage(message);
  }

  /** The configuration changed (a command, a reload): every worker takes it over. */
  configured(): void {
    this.postAll({ type: 'configure', configuration: this.owner.configuration() });
  }

  /** Every worker moves its listener to address; the first error, if any. */
  async listen(address: string): Promise<string | undefined> {
    let unix: SharedUnixSocket | undefined;
    let held: Array<HeldTcpSocket | undefined> = [];
    let fds: Array<number | undefined>;
    try {
      unix = await this.unixSocket(address);
      if (unix === undefined && this.held.length > 0) held = this.workers.map(() => HeldTcpSocket.bind(address));
      await Promise.all([unix?.reserve(this.count), ...held.map((socket) => socket?.reserve(1))]);
      fds = await Promise.all(this.workers.map((worker, i) => worker && (unix?.copy() ?? held[i]?.copy())));
    } catch (err) {
      unix?.close();
      for (const socket of held) socket?.close();
      return (err as Error).message;
    }
    const answers = await this.askAll<Extract<Answer, { type: 'listened' }>>((worker, i, seq) =>
      worker.postMessage({ type: 'listen', address, seq, fd: fds[i] } satisfies ToWorker));
    this.unix?.close();
    this.unix = unix;
    this.closeHeld();
    this.held = held;
    return answers.find((a) => a.error !== undefined)?.error;
  }

  /** The held TCP sockets close (the workers' copies keep theirs open as long as they listen). */
  private closeHeld(): void {
    for (const socket of this.held) socket?.close();
    this.held = [];
  }

  /** QUIT: every worker takes no new clients; resolves once each has closed its listener. */
  async drain(): Promise<void> {
    this.draining = true;
    this.closeHeld(); // else the kernel would queue new clients on them, for nobody
    await this.askAll((worker, _i, seq) => worker.postMessage({ type: 'drain', seq } satisfies ToWorker));
  }

  reloadTls(): void {
    this.postAll({ type: 'reloadTls' });
  }

  reloadGeo(): void {
    this.postAll({ type: 'reloadGeo' });
  }

  /**
   * Ends worker `thread` at once, its connections with it; it is replaced as if it had died. It
   * ends between two turns of its loop, so never while it changes a shared table (a lock would
   * stay taken); one that does not within KILL_MS (stuck in a loop) is terminated where it is.
   */
  kill(thread: number): void {
    const worker = this.workers[thread - 1];
    if (worker === undefined) return;
    worker.postMessage({ type: 'kill' } satisfies ToWorker);
    const force = setTimeout(() => void worker.terminate(), KILL_MS);
    worker.once('exit', () => clearTimeout(force));
  }

  /** Closes connection id in the worker that holds it. */
  closeConnection(id: number): void {
    const thread = this.owner.connections.holder(id);
    if (thread > 0) this.workers[thread - 1]?.postMessage({ type: 'close', id } satisfies ToWorker);
  }

  /** Every worker stops listening, ends its connections and sends its last log lines. */
  async close(): Promise<void> {
    this.stopping = true;
    clearInterval(this.indexRebuild);
    this.unix?.close();
    this.closeHeld();
    await Promise.all(this.workers.map((worker) => new Promise<void>((resolve) => {
      if (worker === undefined) return resolve();
      const giveUp = setTimeout(() => void worker.terminate(), 5000);
      worker.once('exit', () => {
        clearTimeout(giveUp);
        resolve();
      });
      worker.postMessage({ type: 'stop' } satisfies ToWorker);
    })));
  }
}
