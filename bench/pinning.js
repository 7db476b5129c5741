'use strict';
// Where the bench's processes run: the balancers on one CPU, the load (wrk and the backends)
// on the others, so the balancers never compete with the load for a core.

const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

// The CPUs this process may run on (its affinity), e.g. "0-1,4" -> [0, 1, 4].
function allowedCpus() {
  const list = fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1] ?? '';
  return list.split(',').filter(Boolean).flatMap((range) => {
    const [from, to = from] = range.split('-').map(Number);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

// Returns { on: true, taskset, balancers, load, all } (CPU lists for taskset -c), or
// { on: false, why } when pinning is turned off or not possible.
function planPinning(setting, taskset) {
  if (['0', 'off', 'no', 'false'].includes((setting ?? '').trim().toLowerCase())) {
    return { on: false, why: `BENCH_PIN=${setting}` };
  }
  if (!taskset) return { on: false, why: 'taskset not found (util-linux)' };
  let cpus = [];
  try { cpus = allowedCpus(); } catch { /* no /proc: no pinning */ }
  if (cpus.length < 2) return { on: false, why: `${cpus.length || 'unknown number of'} CPU(s) to run on` };
  return { on: true, taskset, balancers: String(cpus[0]), load: cpus.slice(1).join(','), all: cpus.join(',') };
}

function describe(plan) {
  return plan.on
    ? `balancers on CPU ${plan.balancers}, wrk and backends on CPU ${plan.load} (BENCH_PIN=0 turns it off)`
    : `off (${plan.why})`;
}

// The command line that runs cmd on `cpus` (a taskset -c list), or cmd itself when cpus is null.
function onCpus(plan, cpus, cmd, args) {
  return plan.on && cpus ? [plan.taskset, ['-c', cpus, cmd, ...args]] : [cmd, args];
}

// Moves every thread of a running process onto `cpus`. Returns an error message, or null.
function moveToCpus(plan, pid, cpus) {
  const r = spawnSync(plan.taskset, ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? null : `taskset -p ${pid}: ${(r.error?.message ?? r.stderr).trim()}`;
}

module.exports = { planPinning, describe, onCpus, moveToCpus };
