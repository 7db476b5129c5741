// `penctl host:port|/path/to/socket command…`: sends one command, prints the reply (pen's penctl).
import { connect } from 'node:net';
import { PENCTL_USAGE } from './usage';

function die(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

export function main(argv: string[]): void {
  const json = argv[0] === '--json';
  const [target, ...words] = json ? argv.slice(1) : argv;
  if (json) words.unshift('json');
  if (target === undefined || words.length === (json ? 1 : 0)) {
    process.stderr.write(PENCTL_USAGE);
    process.exit(1);
  }
  let socket;
  if (target.includes('/')) {
    socket = connect({ path: target });
  } else {
    const cut = target.lastIndexOf(':'); // the last colon, so ::1:10080 works
    if (cut < 0) die('no port given');
    const host = target.slice(0, cut).replace(/^\[(.*)\]$/, '$1') || 'localhost';
    const port = Number(target.slice(cut + 1));
    if (!Number.isInteger(port) || port < 1 || port > 65535) die(`bad port '${target.slice(cut + 1)}'`);
    socket = connect({ host, port });
  }
  socket.on('error', (err: NodeJS.ErrnoException) =>
    die(err.code === 'ENOTFOUND' ? `getaddrinfo: ${host(target)}: Name or service not known` : 'error connecting to server'));
  socket.on('connect', () => socket.write(`${words.join(' ')}\n`));
  socket.pipe(process.stdout);
}

const host = (target: string) => target.slice(0, target.lastIndexOf(':'));
