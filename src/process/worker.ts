// A worker thread: one Service over the shared tables, configured by the main thread, which
// alone owns the control port, the log file, health checks, signals and the TLS session store.
import { parentPort, workerData } from 'node:worker_threads';
import { Balancer } from '../balancer/balancer';
import { ConnectionTable } from '../balancer/connection-table';
import { messageOf } from '../errors';
import { GeoDatabase } from '../geo/database';
import { RemoteSessionStore, SessionIndex } from '../listeners/tls-sessions';
import { diag, setDebugLevel, useSyslog } from '../reports/diag';
import { LogRelay } from '../reports/request-log';
import { Service } from './service';
import type { Configuration, FromWorker, ToWorker, WorkerStart } from './worker-messages';

const start = workerData as WorkerStart;
const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);

const settings = start.configuration.settings;
const balancer = new Balancer(settings, start.tables.balancer, start.thread);
const connections = new ConnectionTable(start.tables.connections, balancer.servers.board, start.thread);
// Buffers cross threads as plain Uint8Arrays: Node's TLS calls want Buffers back
const sessions = new RemoteSessionStore(start.sessionLifetime, Buffer.from(start.ticketKeys), new SessionIndex(start.sessionIndex),
  (seq, id) => post({ type: 'getSession', seq, id }), (id, session) => post({ type: 'setSession', id, session }));
const service = new Service(settings, balancer, connections, sessions, true);
const log = new LogRelay((records) => post({ type: 'log', records }));
let tls = start.configuration.tls;

if (start.syslog) useSyslog();
// after an error nobody caught, this worker's state is unknown: it ends (its connections with it)
// and the main thread starts a clean one, as a process supervisor would
process.on('uncaughtException', (err) => {
  diag(`internal error in worker ${start.thread}: ${err.stack ?? err}; the worker stops and is replaced`);
  process.exit(1);
});

/** Opens the geo database the settings name (the main thread has checked it opens). */
function openGeoDb(): void {
  try {
    balancer.geo.database = settings.geoDb === undefined ? undefined : GeoDatabase.open(settings.geoDb);
  } catch (err) {
    diag(`worker ${start.thread}: ${messageOf(err)}; the previous database stays in use`);
  }
}

function configure(c: Configuration): void {
  const geoDb = settings.geoDb;
  Object.assign(settings, c.settings);
  balancer.configure(c.balancer);
  tls = c.tls;
  service.answerAcme(c.acme);
  if (settings.geoDb !== geoDb || (settings.geoDb !== undefined && balancer.geo.database === undefined)) openGeoDb();
  setDebugLevel(settings.debug);
  service.forwarder.log = settings.logFile === undefined ? undefined : log;
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'configure': return configure(m.configuration);
    case 'listen':
      return void service.listen(m.address, tls, m.fd).then(
        () => post({ type: 'listened', seq: m.seq, error: undefined }),
        (err) => post({ type: 'listened', seq: m.seq, error: messageOf(err) }));
    case 'reloadTls': {
      const error = service.reloadTls(tls);
      if (error) diag(`worker ${start.thread}: ${error}; the previous certificates stay in use`);
      return;
    }
    case 'reloadGeo': return openGeoDb();
    case 'close': return service.closeConnection(m.id);
    case 'session': return sessions.answer(m.seq, m.session && Buffer.from(m.session));
    case 'ticketKeys': return sessions.useTicketKeys(Buffer.from(m.keys));
    case 'queued': return post({ type: 'queued', seq: m.seq, bytes: connections.queued() });
    case 'drain':
      service.drain();
      return post({ type: 'draining', seq: m.seq });
    case 'listenerFd': return post({ type: 'listenerFd', seq: m.seq, fd: service.listenerFd });
    case 'kill': return process.exit(1);
    case 'stop':
      service.close();
      sessions.close();
      log.flush();
      post({ type: 'stopped' });
      return port.close();
  }
});

configure(start.configuration);
service.open(tls, start.listenFd).then(() => post({ type: 'ready' }), (err) => post({ type: 'failed', message: messageOf(err) }));
