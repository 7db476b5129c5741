// `npm start`: a self-contained demo — two local HTTP backends behind bin/pen on loopback.
import { spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

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
      `your address as the backend sees it: ${req.socket.remoteAddress}\n` +
      `X-Forwarded-For: ${req.headers['x-forwarded-for'] ?? '(none)'}\n`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main(): Promise<void> {
  const backends = await Promise.all([backend('backend-eu'), backend('backend-us')]);
  const port = await freePort(8080);
  const control = await freePort(10080);
  const specs = backends.map((b) => `127.0.0.1:${(b.address() as { port: number }).port}`);
  const pen = spawn(join(__dirname, '..', '..', 'bin', 'pen'),
    ['-f', '-r', '-u', process.getuid?.() === 0 ? 'root' : String(process.env.USER ?? 'nobody'),
      '-C', `127.0.0.1:${control}`, '-o', 'http', `127.0.0.1:${port}`, ...specs], { stdio: 'inherit' });
  const stop = () => {
    pen.kill('SIGTERM');
    backends.forEach((b) => b.close());
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  pen.on('exit', (code) => {
    backends.forEach((b) => b.close());
    process.exitCode = code ?? 0;
  });
  process.stdout.write(`pen-edge demo: two backends behind http://127.0.0.1:${port}/ (round robin)

  curl http://127.0.0.1:${port}/            # alternates between backend-eu and backend-us
  bin/penctl 127.0.0.1:${control} servers   # the server table, with byte counters
  bin/penctl 127.0.0.1:${control} status    # the HTML status page

Ctrl-C stops the demo.
`);
}

void main();
