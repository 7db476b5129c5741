'use strict';
// Slowloris on the HTTP pipeline (-H, issue #14): 500 clients each sending a request head one
// byte at a time. Each is cut off with a 408 once http_head_timeout has passed since its first
// byte (README, HTTP), and the other clients are served all along. A longer run with 2,000
// clients is in `npm run test:stress`.
const test = require('node:test');
const { slowloris } = require('../support/slowloris');

test('slowloris: 500 clients sending a head a byte every 200 ms each get 408 after http_head_timeout 2; other clients are served throughout', { timeout: 60_000 }, async (t) => {
  await slowloris(t, { slow: 500, headTimeoutS: 2, everyMs: 200, flowMs: 40_000 });
});
