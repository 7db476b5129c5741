// What crosses between the main thread and a worker thread. The tables themselves never do:
// they are shared memory. Messages carry configuration, log lines, TLS sessions and commands.
import type { BalancerConfiguration, BalancerMemory } from '../balancer/balancer';
import type { ConnectionTableMemory } from '../balancer/connection-table';
import type { Settings } from '../config/settings';
import type { TlsFiles } from '../listeners/tls';
import type { AcmeChallenges } from '../acme/challenges';
import type { LogRecord } from '../reports/request-log';

export interface SharedTables {
  balancer: BalancerMemory;
  connections: ConnectionTableMemory;
}

/** Everything the main thread configured, as plain data. */
export interface Configuration {
  settings: Settings;
  balancer: BalancerConfiguration;
  /** the certificate the TLS listener serves, when there is one */
  tls: TlsFiles | undefined;
  /** the answers to pending ACME challenges */
  acme: AcmeChallenges;
}

/** A worker's workerData. */
export interface WorkerStart {
  /** 1…N (0 is the main thread) */
  thread: number;
  tables: SharedTables;
  configuration: Configuration;
  ticketKeys: Buffer;
  sessionLifetime: number;
  /** SessionIndex memory: which session IDs the main thread's store may hold */
  sessionIndex: SharedArrayBuffer;
  syslog: boolean;
  /** a copy of the socket to listen on (the unix socket the workers share, or the TCP socket held for this worker) */
  listenFd: number | undefined;
}

export type ToWorker =
  | { type: 'configure'; configuration: Configuration }
  | { type: 'listen'; address: string; seq: number; fd: number | undefined }
  | { type: 'reloadTls' }
  | { type: 'reloadGeo' }
  | { type: 'close'; id: number }
  | { type: 'session'; seq: number; session: Buffer | undefined }
  | { type: 'ticketKeys'; keys: Buffer }
  /** a report is being made: which of the worker's connections have bytes waiting */
  | { type: 'queued'; seq: number }
  /** QUIT: no new clients, open connections end (HTTP ones between requests); answered once the listener is closed */
  | { type: 'drain'; seq: number }
  /** USR2: the listening socket's descriptor, for the successor */
  | { type: 'listenerFd'; seq: number }
  /** `worker N kill`: end at once, between two turns of the loop (never inside a change to shared memory) */
  | { type: 'kill' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'listened'; seq: number; error: string | undefined }
  /** ConnectionTable.queued(): [id, to the client, to the server] after one another */
  | { type: 'queued'; seq: number; bytes: number[] }
  | { type: 'listenerFd'; seq: number; fd: number | undefined }
  | { type: 'draining'; seq: number }
  | { type: 'log'; records: LogRecord[] }
  | { type: 'getSession'; seq: number; id: Buffer }
  | { type: 'setSession'; id: Buffer; session: Buffer }
  | { type: 'stopped' };
