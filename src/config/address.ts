// Addresses as pen writes them: listen addresses, server specs, service names, host names.
import { execFileSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../errors';

/** A resolved endpoint: an IP address and port, or a unix socket path (port 0). */
export interface Endpoint {
  host: string;
  port: number;
  family: 4 | 6 | 0; // 0 = unix socket
}

export interface ServerSpec extends Endpoint {
  maxc: number;
  hard: number;
  weight: number;
  prio: number;
}

let services: Map<string, number> | undefined;

/** Port number or service name (as in /etc/services, like getservbyname). */
export function parsePort(text: string, what: string, protocol: 'tcp' | 'udp' = 'tcp'): number {
  const port = /^\d+$/.test(text) ? Number(text) : serviceTable().get(`${text}/${protocol}`);
  if (port === undefined || port < 1 || port > 65535) {
    throw new ConfigError(`${what}: bad port '${text}'`);
  }
  return port;
}

function serviceTable(): Map<string, number> {
  if (services) return services;
  services = new Map([['http/tcp', 80], ['https/tcp', 443], ['smtp/tcp', 25], ['domain/udp', 53]]);
  let text = '';
  try {
    text = readFileSync('/etc/services', 'utf8');
  } catch {
    return services; // a minimal system: the built-in names still work
  }
  for (const line of text.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/(tcp|udp)$/.exec(words[1] ?? '');
    if (!m) continue;
    for (const name of [words[0], ...words.slice(2)]) services.set(`${name}/${m[2]}`, Number(m[1]));
  }
  return services;
}

/** A literal address as it is, undefined for a name to look up; throws for text that is neither. */
function literalHost(host: string, what: string): { host: string; family: 4 | 6 } | undefined {
  const literal = isIP(host);
  if (literal) return { host, family: literal as 4 | 6 };
  if (host === '' || !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new ConfigError(`${what}: unknown or invalid address '${host}'`);
  }
  return undefined;
}

/**
 * Host name or literal address → the address pen would connect to (getaddrinfo order), looked up
 * without blocking: for commands that arrive while connections are served.
 */
export async function lookupHost(host: string, what: string): Promise<{ host: string; family: 4 | 6 }> {
  const literal = literalHost(host, what);
  if (literal) return literal;
  try {
    const found = await lookup(host);
    return { host: found.address, family: found.family as 4 | 6 };
  } catch {
    throw new ConfigError(`${what}: unknown or invalid address '${host}'`);
  }
}

/** The same, blocking (getent): for the command line, read before anything is served. */
export function resolveHost(host: string, what: string): { host: string; family: 4 | 6 } {
  const literal = literalHost(host, what);
  if (literal) return literal;
  let out = '';
  try {
    out = execFileSync('getent', ['ahosts', host], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new ConfigError(`${what}: unknown or invalid address '${host}'`);
  }
  const first = out.split(/\s+/)[0] ?? '';
  const family = isIP(first);
  if (!family) throw new ConfigError(`${what}: unknown or invalid address '${host}'`);
  return { host: first, family: family as 4 | 6 };
}

/** Splits `[v6]:rest` or `host:rest`; returns the host and the remaining colon-separated fields. */
function splitHost(spec: string): [string, string[]] {
  if (spec.startsWith('[')) {
    const end = spec.indexOf(']');
    if (end < 0) throw new ConfigError(`bad address '${spec}': missing ']'`);
    const rest = spec.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new ConfigError(`bad address '${spec}'`);
    return [spec.slice(1, end), rest === '' ? [] : rest.slice(1).split(':')];
  }
  const [host, ...fields] = spec.split(':');
  return [host ?? '', fields];
}

/** `host[:port[:maxc[:hard[:weight[:prio]]]]]`, `[v6]:port:…`, or a unix socket path; `option` names where it came from in errors. */
export function parseServerSpec(spec: string, defaultPort: number, option = 'server'): ServerSpec {
  const what = `${option} '${spec}'`;
  if (spec.includes('/')) return { host: spec, port: 0, family: 0, maxc: 0, hard: 0, weight: 0, prio: 0 };
  const [host, fields] = splitHost(spec);
  if (fields.length > 5) throw new ConfigError(`${what}: too many fields (host:port:maxc:hard:weight:prio)`);
  const [port, ...limits] = fields;
  const numbers = limits.map((n, i) => {
    if (!/^\d+$/.test(n)) {
      throw new ConfigError(`${what}: ${['maxc', 'hard', 'weight', 'prio'][i]} must be a number, not '${n}'`);
    }
    return Number(n);
  });
  const address = resolveHost(host, what);
  return {
    ...address,
    port: port === undefined || port === '' ? defaultPort : parsePort(port, what),
    maxc: numbers[0] ?? 0,
    hard: numbers[1] ?? 0,
    weight: numbers[2] ?? 0,
    prio: numbers[3] ?? 0,
  };
}

/** The listen address text with its host looked up (without blocking): what to bind, as a literal. */
export async function lookupListenAddress(text: string, what: string): Promise<string> {
  if (text.includes('/')) return text;
  const [host, port] = splitListenAddress(text, what);
  parsePort(port, `${what} '${text}'`);
  const found = await lookupHost(host, `${what} '${text}'`);
  return found.family === 6 ? `[${found.host}]:${port}` : `${found.host}:${port}`;
}

function splitListenAddress(text: string, what: string): [string, string] {
  const cut = text.lastIndexOf(':');
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') throw new ConfigError(`${what}: bad address '${text}'`);
    return [text.slice(1, end), text.slice(end + 2)];
  }
  return cut >= 0 ? [text.slice(0, cut), text.slice(cut + 1)] : ['0.0.0.0', text];
}

/** `[host:]port`, `[v6]:port` or `/path/to/socket`; a bare port listens on all addresses. */
export function parseListenAddress(text: string, what: string, protocol: 'tcp' | 'udp' = 'tcp'): Endpoint {
  if (text.includes('/')) return { host: text, port: 0, family: 0 };
  const [host, port] = splitListenAddress(text, what);
  const address = resolveHost(host, `${what} '${text}'`);
  return { ...address, port: parsePort(port, `${what} '${text}'`, protocol) };
}

/** An address as pen prints it: an IPv4-mapped IPv6 address shown as dotted IPv4. */
export function unmappedAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** A connected peer's address as pen prints it; unix socket clients (no address) are all one client, 0.0.0.0. */
export function peerAddress(remoteAddress: string | undefined): string {
  return remoteAddress === undefined ? '0.0.0.0' : unmappedAddress(remoteAddress);
}
