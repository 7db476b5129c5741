'use strict';
// Latencies counted in a fixed number of buckets, however many requests a run makes, so that
// percentiles take bounded memory. Below 64 us each microsecond has its own bucket; from there
// on each power of two is cut into 64, so a bucket is at most 1/64 of its values wide and the
// middle of one is within 0.8% of any value in it.

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // buckets per power of two
const MAX_US = 2 ** 31 - 1; // about 36 minutes, far past any run's time limit; longer counts as this

// 0..63 for 0..63 us, then 64 buckets for 64..127 us (1 us wide), 64 for 128..255 (2 us wide), ...
function bucketOf(us) {
  if (us < SUB) return us;
  const shift = 31 - Math.clz32(us) - SUB_BITS;
  return SUB * (shift + 1) + (us >> shift) - SUB;
}

function middleOf(bucket) {
  if (bucket < SUB) return bucket;
  const width = 2 ** (Math.floor(bucket / SUB) - 1);
  return (SUB + (bucket % SUB)) * width + (width - 1) / 2;
}

class LatencyHistogram {
  constructor() {
    this.counts = new Float64Array(bucketOf(MAX_US) + 1);
    this.count = 0;
  }

  record(us) {
    this.counts[bucketOf(Math.min(Math.max(Math.round(us), 0), MAX_US))]++;
    this.count++;
  }

  // The latency (us) that p% of the recorded ones are at or below, as its bucket's middle; NaN
  // when none are recorded.
  percentile(p) {
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < this.counts.length; bucket++) {
      seen += this.counts[bucket];
      if (seen >= rank) return middleOf(bucket);
    }
    return NaN;
  }
}

module.exports = { LatencyHistogram };
