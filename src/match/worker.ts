// The matcher's worker thread entry (see src/thread/run.ts): `compile` reads,
// parses and compiles the lists and answers with the matcher's parts in
// shared memory; `explain` finds the entries behind verdicts, over a
// matcher the caller shares with it; `verify` reads the files of a matcher
// compiled earlier (a snapshot) again and says whether they are the same.
import { serveJobs } from '../thread/run.js';
import { type CompileJob, type ExplainJob, type VerifyJob, compileJob, explainJob, verifyJob } from './lists.js';

serveJobs((job: CompileJob | ExplainJob | VerifyJob) => (job.kind === 'compile' ? compileJob(job) : job.kind === 'verify' ? verifyJob(job) : explainJob(job)));
