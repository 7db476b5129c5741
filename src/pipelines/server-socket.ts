// A socket to a server, as every connection to one is made: its unix socket, TCP, or TLS verified
// against the server's CA and named (SNI) by its servername, else by its host when that is a name.
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Server } from '../balancer/server-table';

export interface SocketOptions {
  /** the local address to connect from (`source`) */
  source: string | undefined;
  allowHalfOpen: boolean;
  keepAlive?: boolean;
  /** the protocols offered to a TLS server (ALPN) */
  alpn?: string[];
}

export function serverSocket(server: Server, { source, allowHalfOpen, keepAlive, alpn }: SocketOptions): Socket {
  if (server.family === 0) return connect({ path: server.host, allowHalfOpen });
  const tcp = { host: server.host, port: server.port, allowHalfOpen, noDelay: true, keepAlive, localAddress: source };
  if (!server.tls) return connect(tcp);
  const servername = server.tls.servername ?? (isIP(server.host) ? undefined : server.host);
  return tlsConnect({ ...tcp, servername, ca: server.tls.ca, rejectUnauthorized: true, ALPNProtocols: alpn });
}
