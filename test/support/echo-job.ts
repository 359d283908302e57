// A worker entry for src/thread/run.ts's tests: echoes its job with this
// thread's nice value, fails on "fail", and takes its thread down on "crash".
import { readFileSync } from 'node:fs';
import { serveJobs } from '../../src/thread/run.js';

serveJobs((job: string) => {
  if (job === 'fail') throw new Error('failed as asked');
  if (job === 'crash') process.exit(7);
  return { echo: job, nice: niceness() };
});

/** Field 19 of /proc/thread-self/stat is this thread's nice value (Linux); NaN elsewhere. */
function niceness(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  } catch {
    return NaN;
  }
}
