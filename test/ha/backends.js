'use strict';
// The backends of test/ha/pair.ha.js, run in their own namespace:
//   node backends.js ADDRESS FIRST_PORT NAME...
// an HTTP server per NAME on ADDRESS, ports FIRST_PORT and up, each answering every request with
// its name and the address the connection came from (the balancer's), as JSON; prints `listening`
// once all of them are.
const http = require('node:http');
const { once } = require('node:events');

const [address, firstPort, ...names] = process.argv.slice(2);

async function serve(name, port) {
  const server = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ name, via: req.socket.remoteAddress }));
  });
  server.listen(port, address);
  await once(server, 'listening');
}

Promise.all(names.map((name, i) => serve(name, Number(firstPort) + i))).then(() => console.log('listening'));
