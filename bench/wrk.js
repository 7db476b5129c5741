'use strict';
// Runs wrk against one URL and reads its output.

const { spawn } = require('node:child_process');
const { stop, track, withTimeout } = require('./processes');

function parseLatency(value, unit) {
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit];
  return scale === undefined ? NaN : Number(value) * scale;
}

function parseWrk(out) {
  const requests = out.match(/^\s*(\d+) requests in/m);
  const rps = out.match(/^Requests\/sec:\s+([\d.]+)/m);
  const p99 = out.match(/^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const notes = [];
  const errors = out.match(/^\s*Socket errors:.*$/m);
  const non2xx = out.match(/^\s*Non-2xx or 3xx responses:.*$/m);
  if (errors) notes.push(errors[0].trim());
  if (non2xx) notes.push(non2xx[0].trim());
  return {
    requests: requests ? Number(requests[1]) : NaN,
    rps: rps ? Number(rps[1]) : NaN,
    p99: p99 ? parseLatency(p99[1], p99[2]) : NaN,
    notes,
  };
}

// `run` holds bin, threads, connections, seconds and extra args.
function runWrk(run, url) {
  const { bin, threads, connections, seconds } = run;
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...run.args, url];
  const child = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'wrk');
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
