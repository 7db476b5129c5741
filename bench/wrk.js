'use strict';
// Runs wrk against one URL and reads its output.

const { spawn } = require('node:child_process');
const path = require('node:path');
const { stop, track, withTimeout } = require('./processes');

const LATENCY_SCRIPT = path.join(__dirname, 'latency.lua');
const TIMEOUT = '2s'; // wrk's default, said out loud: a request slower than this counts as a timeout

// wrk's summary, plus the line latency.lua prints (microseconds; here turned into ms).
function parseWrk(out) {
  const requests = out.match(/^\s*(\d+) requests in/m);
  const rps = out.match(/^Requests\/sec:\s+([\d.]+)/m);
  const latency = out.match(/^bench-latency p50_us=(\d+) p99_us=(\d+) max_us=(\d+) slow=(\d+) timeouts=(\d+)$/m);
  const notes = [];
  const errors = out.match(/^\s*Socket errors:.*$/m);
  const non2xx = out.match(/^\s*Non-2xx or 3xx responses:.*$/m);
  if (errors) notes.push(errors[0].trim());
  if (non2xx) notes.push(non2xx[0].trim());
  const [p50, p99, max, slow, timeouts] = latency ? latency.slice(1).map(Number) : [NaN, NaN, NaN, NaN, NaN];
  return {
    requests: requests ? Number(requests[1]) : NaN,
    rps: rps ? Number(rps[1]) : NaN,
    p50: p50 / 1000,
    p99: p99 / 1000,
    max: max / 1000,
    slow,
    timeouts,
    notes,
  };
}

// `run` holds bin, threads, connections, seconds, extra args, and onCpus(cmd, args), which gives
// the command line that runs wrk where the load runs.
function runWrk(run, url) {
  const { bin, threads, connections, seconds } = run;
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', TIMEOUT, '-s', LATENCY_SCRIPT,
    ...run.args, url];
  const child = track(spawn(...run.onCpus(bin, args), { stdio: ['ignore', 'pipe', 'pipe'] }), 'wrk');
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const done = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return withTimeout(done, (seconds + 30) * 1000, 'wrk')
    .catch(async (err) => { await stop(child); throw err; })
    .then((code) => {
      const result = parseWrk(out);
      if (code !== 0 || Number.isNaN(result.rps)) {
        result.failed = true;
        result.notes.push(`wrk exit ${code}: ${child.stderrTail.trim() || out.trim().split('\n').pop()}`);
      }
      return result;
    });
}

module.exports = { runWrk };
