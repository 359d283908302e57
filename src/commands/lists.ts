import { Command } from 'commander';
import { loadConfig } from '../control/config/load.js';
import { buildFilter } from '../control/policy/filter.js';

export function listsCommand(): Command {
  return new Command('lists')
    .description('per list: format, entries loaded, lines rejected with reasons; the compiled matcher size')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'one JSON document')
    .option('--all', 'one line per catalogue service too')
    .action(async (opts: { config?: string; json?: boolean; all?: boolean }) => {
      const filter = await buildFilter(loadConfig(opts.config));
      const { reports } = filter.lists;
      const matcherBytes = filter.state.matcher.byteSize;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ matcherBytes, lists: reports }) + '\n');
        return;
      }
      const catalogue = reports.filter((r) => r.name.startsWith('service:'));
      for (const r of opts.all ? reports : reports.filter((r) => !r.name.startsWith('service:'))) {
        process.stdout.write(`${r.name}\t${r.format}\t${r.entries} entries\t${r.rejected} rejected\t${r.skipped} skipped${r.source ? `\t${r.source}` : ''}\n`);
        for (const s of r.samples) process.stdout.write(`    line ${s.line}: ${s.reason}: ${JSON.stringify(s.text)}\n`);
      }
      if (!opts.all) process.stdout.write(`catalogue\t${catalogue.length} services\t${catalogue.reduce((n, r) => n + r.entries, 0)} names (--all for each)\n`);
      const size = matcherBytes < 1 << 20 ? `${(matcherBytes / 1024).toFixed(1)} KiB` : `${(matcherBytes / (1 << 20)).toFixed(1)} MiB`;
      process.stdout.write(`matcher: ${size} for ${reports.reduce((n, r) => n + r.entries, 0)} entries\n`);
    });
}
