// The control port: one penctl command per connection, checked against control_acl. Connections
// are bounded in number, in time and in bytes, so a flood of them cannot starve the port or the
// process: beyond the limit, the oldest connection without a command makes room for a new one.
import type { Server, Socket } from 'node:net';
import type { AclLists } from '../balancer/acl';
import { peerAddress } from '../config/address';
import { ConfigError, messageOf } from '../errors';
import { debug } from '../reports/diag';
import { listen } from './listen';

const LINE_MAX = 4096; // pen reads one 4 KiB buffer per command
/** a command line must arrive whole this soon after connecting, and the client close this soon after the reply */
const LINE_MS = 10_000; // HAProxy's stats socket timeout
/**
 * control connections open at once: room for a burst of scripts (Node accepts all the kernel
 * holds, so none wait in the backlog), and half of the descriptors reserved beside clients (descriptors.ts)
 */
const CONTROL_CONNECTIONS = 32;
const BINARY = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]/;

/** One control connection: reading its line, running its command, or answered (closing). */
interface Conversation {
  socket: Socket;
  state: 'reading' | 'running' | 'answered';
}

export class ControlPort {
  /** open control connections, oldest first */
  private readonly open = new Set<Conversation>();
  private server: Server | undefined;

  private constructor(
    private readonly acls: AclLists,
    private readonly aclNumber: () => number,
    private readonly run: (line: string) => Promise<string>,
  ) {}

  static async open(address: string, acls: AclLists, aclNumber: () => number, run: (line: string) => Promise<string>): Promise<ControlPort> {
    const port = new ControlPort(acls, aclNumber, run);
    port.server = await listen(address, 'control port', { backlog: 50, reusePort: false }, (socket) => port.converse(socket));
    return port;
  }

  private converse(socket: Socket): void {
    const client = peerAddress(socket.remoteAddress);
    socket.on('error', () => {});
    if (socket.remoteAddress !== undefined && !this.acls.permits(this.aclNumber(), client)) {
      debug(1, () => `do_ctrl: control connection from ${client} refused by control_acl`);
      socket.destroy();
      return;
    }
    if (!this.makeRoom()) {
      debug(1, () => `do_ctrl: ${CONTROL_CONNECTIONS} control commands running, connection from ${client} closed`);
      socket.destroy();
      return;
    }
    const conversation: Conversation = { socket, state: 'reading' };
    this.open.add(conversation);
    const hangUp = () => socket.destroy();
    let deadline = setTimeout(hangUp, LINE_MS); // not moved by bytes: a trickle gets no longer
    socket.on('close', () => {
      clearTimeout(deadline);
      this.open.delete(conversation);
    });
    let buffered = '';
    const answer = (reply: string) => {
      conversation.state = 'answered';
      buffered = '';
      if (socket.destroyed) return;
      deadline = setTimeout(hangUp, LINE_MS);
      socket.end(reply); // what the client still sends is read and dropped until it closes
    };
    const execute = () => {
      if (conversation.state !== 'reading') return;
      conversation.state = 'running'; // the reply may come later (a bind, a name lookup): nothing more is read meanwhile
      clearTimeout(deadline);
      this.run(buffered).then(answer, (err) => answer(`${err instanceof ConfigError ? '' : 'error: '}${messageOf(err)}\n`));
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (conversation.state !== 'reading') return;
      if (BINARY.test(chunk)) return answer('error: binary data is not a command\n');
      buffered += chunk;
      if (buffered.length > LINE_MAX) return answer(`error: command longer than ${LINE_MAX} bytes\n`);
      if (chunk.includes('\n')) execute();
    });
    socket.on('end', execute);
    socket.resume();
  }

  /**
   * Whether a new connection may be held: at the limit, the oldest that has its answer, else the
   * oldest still without a whole line, is closed for it. Running commands are never cut.
   */
  private makeRoom(): boolean {
    if (this.open.size < CONTROL_CONNECTIONS) return true;
    let victim: Conversation | undefined;
    for (const c of this.open) {
      if (c.state === 'answered') {
        victim = c;
        break;
      }
      if (c.state === 'reading') victim ??= c;
    }
    if (victim === undefined) return false;
    debug(1, () => `do_ctrl: ${CONTROL_CONNECTIONS} control connections open, closing the oldest idle one`);
    this.open.delete(victim);
    victim.socket.destroy();
    return true;
  }

  close(): void {
    this.server?.close();
  }
}
