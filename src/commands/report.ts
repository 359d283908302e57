import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, duration } from '../control/config/check.js';
import { loadConfig } from '../control/config/load.js';
import { loadCatalogue } from '../control/catalogue/index.js';
import { REPORT_BY, type ReportBy, type Scan, buildReport, formatReport, logFiles } from '../control/observe/report.js';
import { exceptionsFromDb, exceptionsFromFiles, formatExceptions } from '../control/observe/exceptions-report.js';

interface ReportOpts {
  log?: string;
  db?: string;
  config?: string;
  since?: number;
  by: ReportBy;
  format: 'table' | 'csv' | 'json';
  all?: boolean;
  discover?: boolean;
  exceptions?: boolean;
}

function sinceArg(value: string): number {
  try {
    return Date.now() - duration('--since', value, 0) * 1000;
  } catch (err) {
    if (err instanceof ConfigError) throw new InvalidArgumentError('write a duration such as 90m, 24h, 7d or 4w');
    throw err;
  }
}

export function reportCommand(): Command {
  return new Command('report')
    .description('who tried to reach which AI service, how often, first and last seen, from the query log (rotated files too)')
    .option('--log <path>', 'query log file (default: queryLog.path of the config)')
    .option('--db <url>', 'read every instance\'s rows from PostgreSQL (queryLog.sink), e.g. postgres://aifence@10.0.0.3/aifence')
    .option('-c, --config <file>', 'config file naming the query log (its file, or its PostgreSQL sink)')
    .option('--since <duration>', 'only entries this recent, e.g. 24h, 7d', sinceArg)
    .addOption(new Option('--by <key>', 'one row per').choices(REPORT_BY).default('service'))
    .addOption(new Option('--format <format>', 'output').choices(['table', 'csv', 'json']).default('table'))
    .option('--all', 'count every query, not only blocked ones')
    .option('--discover', 'shadow AI: allowed names that look like AI services but are in no catalogue entry, with how many clients asked (needs queryLog.mode: all)')
    .option('--exceptions', 'every use of an exception: per exception (or allow rule, allow entry, pause), client and service, how often, first and last')
    .action(async (opts: ReportOpts) => {
      const sink = opts.db || opts.log ? undefined : loadConfig(opts.config).queryLog.sink;
      const db = opts.db ?? (sink?.kind === 'postgres' ? sink.url : undefined);
      if (opts.discover) {
        await discover(opts, db);
        return;
      }
      if (opts.exceptions) {
        await exceptions(opts, db);
        return;
      }
      if (db !== undefined) {
        // Loaded when asked for: `aifence serve` loads this module too, and must not load pg with it.
        const { buildDbReport } = await import('../control/observe/report-db.js');
        process.stdout.write(formatReport(await buildDbReport(db, { by: opts.by, since: opts.since, all: opts.all }), opts.format));
        return;
      }
      const report = await buildReport(logFilesOf(opts), { by: opts.by, since: opts.since, all: opts.all });
      warnScan(report);
      process.stdout.write(formatReport(report, opts.format));
    });
}

async function exceptions(opts: ReportOpts, db: string | undefined): Promise<void> {
  if (db !== undefined) {
    process.stdout.write(formatExceptions(await exceptionsFromDb(db, opts.since), opts.format));
    return;
  }
  const files = logFilesOf(opts);
  const report = await exceptionsFromFiles(files, opts.since);
  warnScan(report);
  process.stdout.write(formatExceptions(report, opts.format));
}

/** The query log's files (the live one and its rotations), from --log or the config. */
function logFilesOf(opts: ReportOpts): string[] {
  const path = opts.log ?? loadConfig(opts.config).queryLog.path;
  const files = logFiles(path);
  if (files.length === 0) throw new Error(`no query log at ${path} (is queryLog.mode on?)`);
  return files;
}

function warnScan(scan: Scan): void {
  if (scan.bad > 0) process.stderr.write(`aifence report: ${scan.bad} unreadable line(s) skipped, the first at ${scan.firstBad}\n`);
  if (scan.dropped > 0) process.stderr.write(`aifence report: the daemon dropped ${scan.dropped} entries (disk too slow); counts are a lower bound\n`);
}

async function discover(opts: ReportOpts, db: string | undefined): Promise<void> {
  const { discoverFromDb, discoverFromFiles, formatDiscovery } = await import('../control/observe/discover.js');
  const catalogue = loadCatalogue();
  let found;
  if (db !== undefined) found = await discoverFromDb(db, catalogue, { since: opts.since });
  else found = await discoverFromFiles(logFilesOf(opts), catalogue, { since: opts.since });
  if (found.allowedSeen === 0) process.stderr.write('aifence report: no allowed queries in the log: discovery needs queryLog.mode: all\n');
  process.stdout.write(formatDiscovery(found.rows, opts.format));
}
