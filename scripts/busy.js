#!/usr/bin/env node
// Keeps N cores busy for a while, to run the tests the way a loaded machine runs them:
// `npm run load -- --cores 2 --seconds 600 &`, then the tests, then it ends by itself (or on
// Ctrl-C / SIGTERM to its one process id, printed at start). One worker thread per core spins
// in a tight loop; nothing is allocated, written or sent, so only CPU time is taken.
'use strict';
const { Worker, isMainThread } = require('node:worker_threads');
const os = require('node:os');

if (!isMainThread) {
  for (;;) {
    // spin
  }
}

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`busy: --${name} needs a positive number, got ${JSON.stringify(process.argv[at + 1])}`);
    process.exit(2);
  }
  return value;
}

if (process.argv.includes('--help')) {
  console.log('usage: node scripts/busy.js [--cores N (default: all)] [--seconds S (default 600)]');
  process.exit(0);
}
const cores = Math.floor(option('cores', os.availableParallelism()));
const seconds = option('seconds', 600);

const workers = Array.from({ length: cores }, () => new Worker(__filename));
console.log(`busy: ${cores} core(s) for ${seconds} s, pid ${process.pid}`);
const end = (why) => {
  console.log(`busy: done (${why})`);
  process.exit(0); // ends the worker threads with the process
};
setTimeout(() => end('time is up'), seconds * 1000);
process.on('SIGINT', () => end('SIGINT'));
process.on('SIGTERM', () => end('SIGTERM'));
void workers;
