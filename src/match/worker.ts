// The matcher's worker thread entry (see src/thread/run.ts): `compile` reads,
// parses and compiles the lists and answers with the matcher's parts in
// shared memory; `explain` finds the entries behind verdicts, over a
// matcher the caller shares with it.
import { serveJobs } from '../thread/run.js';
import { type CompileJob, type ExplainJob, compileJob, explainJob } from './lists.js';

serveJobs((job: CompileJob | ExplainJob) => (job.kind === 'compile' ? compileJob(job) : explainJob(job)));
