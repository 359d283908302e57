// Worker entry: the console's history over the query log files, off the
// query loop (a month of log is read line by line here, not there).
import { serveJobs } from '../../thread/run.js';
import { type HistoryQuery, historyFromFiles } from './history.js';

serveJobs((job: { files: string[]; query: HistoryQuery; all: boolean }) => historyFromFiles(job.files, job.query, job.all));
