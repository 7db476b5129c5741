// The control port: one penctl command per connection, checked against control_acl.
import type { Server, Socket } from 'node:net';
import type { AclLists } from '../balancer/acl';
import { peerAddress } from '../config/address';
import { ConfigError, messageOf } from '../errors';
import { debug } from '../reports/diag';
import { listen } from './listen';

const LINE_MAX = 4096; // pen reads one 4 KiB buffer per command
const IDLE_MS = 10_000; // a silent control client is dropped, never waited on

export class ControlPort {
  private constructor(private readonly server: Server) {}

  static async open(address: string, acls: AclLists, aclNumber: () => number, run: (line: string) => Promise<string>): Promise<ControlPort> {
    const onSocket = (socket: Socket) => {
      const client = peerAddress(socket.remoteAddress);
      socket.on('error', () => {});
      if (socket.remoteAddress !== undefined && !acls.permits(aclNumber(), client)) {
        debug(1, () => `do_ctrl: control connection from ${client} refused by control_acl`);
        socket.destroy();
        return;
      }
      let buffered = '';
      let done = false;
      const answer = (reply: string) => {
        done = true;
        socket.end(reply);
      };
      const execute = () => {
        if (done) return;
        done = true; // the reply may come later (a bind, a name lookup): nothing more is read meanwhile
        run(buffered).then(answer, (err) => answer(`${err instanceof ConfigError ? '' : 'error: '}${messageOf(err)}\n`));
      };
      socket.setEncoding('latin1');
      socket.setTimeout(IDLE_MS, () => socket.destroy());
      socket.on('data', (chunk: string) => {
        if (done) return;
        buffered += chunk;
        if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]/.test(buffered)) return answer('error: binary data is not a command\n');
        if (buffered.length > LINE_MAX) return answer(`error: command longer than ${LINE_MAX} bytes\n`);
        if (buffered.includes('\n')) execute();
      });
      socket.on('end', execute);
      socket.resume();
    };
    return new ControlPort(await listen(address, 'control port', { backlog: 50, reusePort: false }, onSocket));
  }

  close(): void {
    this.server.close();
  }
}
