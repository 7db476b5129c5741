'use strict';
// Runs wrk against one URL and reads its output.

const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { runToEnd } = require('./processes');

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

// The full-handshakes.c preload, built into dir with the C compiler. Returns { path }, or a
// string saying why there is none.
function buildFullHandshakes(dir) {
  const so = path.join(dir, 'full-handshakes.so');
  const r = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', so, path.join(__dirname, 'full-handshakes.c'), '-ldl'],
    { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? { path: so } : `cc failed: ${(r.error?.message ?? r.stderr).trim().split('\n')[0]}`;
}

// What the preload printed: a note unless every handshake was full.
function handshakeNote(stderr) {
  const counts = stderr.match(/^bench-tls full=(\d+) resumed=(\d+)$/m);
  if (!counts) return 'no handshake counts from full-handshakes.so';
  return Number(counts[2]) > 0 ? `${counts[2]} of ${Number(counts[1]) + Number(counts[2])} handshakes resumed` : null;
}

// `run` holds bin, threads, connections, seconds, extra args, onCpus(cmd, args), which gives
// the command line that runs wrk where the load runs, and preload (a library for LD_PRELOAD, or null).
async function runWrk(run, url) {
  const { bin, threads, connections, seconds, preload } = run;
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', TIMEOUT, '-s', LATENCY_SCRIPT,
    ...run.args, url];
  const env = preload ? { ...process.env, LD_PRELOAD: preload } : process.env;
  const { code, out, stderr } = await runToEnd('wrk', run.onCpus(bin, args), (seconds + 30) * 1000, env);
  const result = parseWrk(out);
  if (preload) {
    const note = handshakeNote(stderr);
    if (note) result.notes.push(note);
  }
  if (code !== 0 || Number.isNaN(result.rps)) {
    result.failed = true;
    const why = stderr.replace(/^bench-tls .*$/m, '').trim() || out.trim().split('\n').pop();
    result.notes.push(`wrk exit ${code}: ${why}`);
  }
  return result;
}

module.exports = { buildFullHandshakes, runWrk };
