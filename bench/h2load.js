'use strict';
// Runs h2load (nghttp2-client) against one URL and reads its summary, and its per-request log for
// the p50 and p99, which h2load does not print.

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { LatencyHistogram } = require('./histogram');
const { runToEnd, tempDir } = require('./processes');

// As wrk's --timeout 2s: a connection silent this long is dropped, its requests counted as timeouts.
const INACTIVITY = '2s';
// Requests in the first second are not counted (h2load's --warm-up-time): the run measures requests
// on connections already open, not the burst of 16 handshakes they start with (see README).
const WARM_UP_SECONDS = 1;
let logs = 0; // one log file per run

// "459us", "83.74ms" or "1.02s" in ms.
function toMs(text) {
  const m = text.match(/^([\d.]+)(us|ms|s)$/);
  return m ? Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2]] : NaN;
}

// h2load's summary: req/s, the requests done, and the mean and max of "time for request". Its
// counts of failed, errored and timed-out requests and of non-2xx answers become notes.
function parseH2load(out) {
  const rps = out.match(/^finished in \S+, ([\d.]+) req\/s/m);
  const counts = out.match(/^requests: \d+ total, (\d+) started, (\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout$/m);
  const codes = out.match(/^status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$/m);
  const time = out.match(/^time for request:\s+\S+\s+(\S+)\s+(\S+)/m);
  const [started, done, failed, errored, timeouts] = counts ? counts.slice(1).map(Number) : [];
  const notes = [];
  if (failed + errored + timeouts > 0) notes.push(`${failed} failed, ${errored} errored, ${timeouts} timed out of ${started} started`);
  if (codes && codes.slice(1).some((n) => n !== '0')) notes.push(`non-2xx: ${codes[1]} 3xx, ${codes[2]} 4xx, ${codes[3]} 5xx`);
  return {
    requests: counts ? done : NaN,
    rps: rps ? Number(rps[1]) : NaN,
    mean: time ? toMs(time[2]) : NaN,
    max: time ? toMs(time[1]) : NaN,
    notes,
  };
}

// The per-request log, a line at a time (a long run's log is never held whole): column 2 is the
// status, -1 for a failed stream (left out, as wrk leaves out its errors), column 3 the
// microseconds from the request's start to the end of its response.
async function readLog(file) {
  const histogram = new LatencyHistogram();
  for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
    const [, status, us] = line.split('\t');
    if (status !== '-1' && us !== undefined) histogram.record(Number(us));
  }
  return histogram;
}

// `run` holds bin, threads, connections, seconds, args (the protocol's: e.g. -m10, or --h1 -m1),
// alpn (the protocol h2load must agree on with the balancer) and onCpus(cmd, args), which gives
// the command line that runs h2load where the load runs. -D bounds the run in time (h2load then
// ignores -n), after a warm-up that is not counted, and runToEnd stops it 30 s past that.
async function runH2load(run, url) {
  const { bin, threads, connections, seconds } = run;
  const log = path.join(tempDir(), `h2load-${++logs}.log`);
  const args = [`-t${threads}`, `-c${connections}`, `-D${seconds}s`, `--warm-up-time=${WARM_UP_SECONDS}s`, `-N${INACTIVITY}`, ...run.args, `--log-file=${log}`, url];
  try {
    const { code, out, stderr } = await runToEnd('h2load', run.onCpus(bin, args), (WARM_UP_SECONDS + seconds + 30) * 1000);
    const result = parseH2load(out);
    const alpn = out.match(/^Application protocol: (\S+)$/m)?.[1];
    if (code !== 0 || !(result.requests > 0)) {
      result.failed = true;
      result.notes.push(`h2load exit ${code}, ${result.requests || 'no'} requests done${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    } else if (alpn !== run.alpn) { // h2load falls back to HTTP/1.1 (pipelining -m) where h2 is not offered
      result.failed = true;
      result.notes.push(`h2load and the balancer agreed on ${alpn ?? 'no protocol'}, not ${run.alpn}`);
    } else {
      const latencies = await readLog(log);
      result.p50 = latencies.percentile(50) / 1000;
      result.p99 = latencies.percentile(99) / 1000;
    }
    return result;
  } finally {
    fs.rmSync(log, { force: true });
  }
}

module.exports = { runH2load };
