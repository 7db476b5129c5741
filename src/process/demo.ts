// `npm start`: a self-contained demo on loopback — two regional HTTP backends behind bin/pen with
// TLS (a generated certificate), X-Forwarded-For, and GeoIP routing on the generated demo database.
import { spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildCountryDatabase, parseCountryCsv } from '../geo/mmdb-writer';

const ROOT = join(__dirname, '..', '..');

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) => new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const { port: got } = s.address() as { port: number };
      s.close(() => resolve(got));
    });
  });
  return tryPort(preferred).catch(() => tryPort(0));
}

function backend(name: string): Promise<Server> {
  const server = createHttpServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} answered ${req.method} ${req.url}\n` +
      `X-Forwarded-For: ${req.headers['x-forwarded-for'] ?? '(none)'}\n` +
      `X-Forwarded-Proto: ${req.headers['x-forwarded-proto'] ?? '(none)'}\n`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The demo map (geo/demo-regions.csv) built into fixtures/ by the project's own writer. */
function demoDatabase(): string {
  const csv = join(ROOT, 'geo', 'demo-regions.csv');
  const out = join(ROOT, 'fixtures', 'generated', 'demo.mmdb');
  mkdirSync(join(ROOT, 'fixtures', 'generated'), { recursive: true });
  writeFileSync(out, buildCountryDatabase(parseCountryCsv(readFileSync(csv, 'utf8'), csv), 'pen-edge demo regions'));
  return out;
}

/** pen writes its pid file once it is serving. */
async function serving(pidFile: string): Promise<void> {
  const watcher = watch(dirname(pidFile));
  try {
    while (!existsSync(pidFile)) await once(watcher, 'change');
  } finally {
    watcher.close();
  }
}

async function main(): Promise<void> {
  const [us, eu] = await Promise.all([backend('backend-us (North America)'), backend('backend-eu (Europe)')]);
  const port = await freePort(8443);
  const control = await freePort(10080);
  const at = (s: Server) => `port ${(s.address() as { port: number }).port}`;
  const user = process.getuid?.() === 0 ? ['-u', 'root'] : [];
  const pidFile = join(ROOT, 'fixtures', 'generated', 'demo.pid');
  rmSync(pidFile, { force: true });
  const pen = spawn(join(ROOT, 'bin', 'pen'), ['-f', ...user, '-p', pidFile, '-C', `127.0.0.1:${control}`, '-H',
    '-o', 'ssl_auto localhost,127.0.0.1', '-o', `geo_db ${demoDatabase()}`, '-o', 'geo_routing on',
    '-o', `server 0 address 127.0.0.1 ${at(us)} geo US,@NA`,
    '-o', `server 1 address 127.0.0.1 ${at(eu)} geo @EU`,
    `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'inherit'] }); // its stdout has only the replies to -o
  const stop = () => pen.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  pen.on('exit', (code) => {
    us.close();
    eu.close();
    process.exitCode = code ?? 0;
  });
  await serving(pidFile);
  process.stdout.write(`pen-edge demo: HTTPS on https://127.0.0.1:${port}/ with a generated certificate, X-Forwarded-For,
and GeoIP routing (geo/demo-regions.csv: 127.0.0.0/8 is the US, 127.0.1.0/24 Germany, 127.0.2.0/24 France).

  curl -k https://127.0.0.1:${port}/                                   # from the US: backend-us
  curl -k --interface 127.0.1.5 https://127.0.0.1:${port}/             # from Germany: backend-eu
  bin/penctl 127.0.0.1:${control} clients      # each client with its country
  bin/penctl 127.0.0.1:${control} geo          # the database and connections per country
  bin/penctl --json 127.0.0.1:${control} servers

Ctrl-C stops the demo.
`);
}

void main();
