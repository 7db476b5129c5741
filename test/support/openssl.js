'use strict';
// Debian's openssl command as a TLS client, for what node:tls cannot ask for (session files, sigalgs).
const { spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');

/** Why a test that needs the openssl command is skipped, or false when it is installed. */
const noOpenssl = spawnSync('openssl', ['version']).error ? 'openssl not found: apt-get install openssl' : false;

/**
 * Runs `openssl s_client` against 127.0.0.1:port with args, sends input once connected, and
 * resolves with all it printed after the server closed the connection (-ign_eof: not before).
 */
async function sClient(port, args, input = 'ping\n') {
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-ign_eof', ...args],
    { timeout: 20000 }); // a bound for a broken run, not a wait
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  child.stdin.end(input);
  await once(child, 'close');
  return output;
}

/** The line s_client prints for a session: `New, TLSv1.3, Cipher is …` or `Reused, …`. */
function sessionLine(output) {
  return /^(New|Reused), .*$/m.exec(output)?.[0] ?? `no session line in:\n${output}`;
}

module.exports = { noOpenssl, sClient, sessionLine };
