// Worker entry: one lease file read and parsed off the query thread (a Kea
// journal between cleanups can hold hundreds of thousands of rows).
import { readLeaseFile } from './lease-file.js';
import { serveJobs } from '../../thread/run.js';
import type { LeaseSource } from '../config/identity.js';

serveJobs((job: { source: LeaseSource; now: number }) => readLeaseFile(job.source, job.now));
