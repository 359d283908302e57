import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../control/config/load.js';
import { buildFilter } from '../control/policy/filter.js';
import { CheckInputError, checkClient, checkNames, checkTarget } from '../control/policy/explain.js';
import { visible } from '../text/visible.js';

export function checkCommand(): Command {
  return new Command('check')
    .description('show the verdict for names, and the group, rule and list entry that decided it')
    .argument('[names...]', 'names to check (a URL is checked by its host)')
    .option('-c, --config <file>', 'config file')
    .option('-f, --file <file>', 'read names one a line from this file')
    .option('--client <ip>', 'decide as for this client address (its group)', '127.0.0.1')
    .option('--json', 'one JSON object a line')
    .action(async (names: string[], opts: { config?: string; file?: string; client: string; json?: boolean }) => {
      const client = checkClient(opts.client);
      const inputs = names.map((text) => ({ text, where: '' }));
      if (opts.file) {
        readFileSync(opts.file, 'utf8').split(/\r?\n/).forEach((line, i) => {
          const text = line.trim();
          if (text && !text.startsWith('#')) inputs.push({ text, where: `${opts.file}:${i + 1}: ` });
        });
      }
      if (inputs.length === 0) throw new Error('name at least one name to check, or --file FILE');
      // Every input is looked at before anything is compiled: bad ones are named, the rest still checked.
      const targets: string[] = [];
      let bad = 0;
      for (const { text, where } of inputs) {
        try {
          const t = checkTarget(text);
          if (t.note) process.stderr.write(`aifence check: ${where}note: ${t.note}\n`);
          targets.push(t.name);
        } catch (err) {
          if (!(err instanceof CheckInputError)) throw err;
          process.stderr.write(`aifence check: ${visible(`${where}${err.message}`)}\n`);
          bad++;
        }
      }
      if (targets.length > 0) {
        const filter = await buildFilter(loadConfig(opts.config));
        for (const r of await checkNames(filter, targets, client)) {
          if (opts.json) {
            process.stdout.write(JSON.stringify(r) + '\n');
            continue;
          }
          const why = r.list ? `  ${r.list}${r.line ? ` line ${r.line}` : ''}: ${r.entry}` : '';
          const exception = r.exception ? `  (exception ${r.exception.select}${r.exception.until ? ` until ${r.exception.until}` : ''}${r.exception.reason ? `: ${r.exception.reason}` : ''})` : '';
          // Names are in presentation form already; reasons and entries come from lists and Redis: no raw control byte reaches the terminal.
          process.stdout.write(`${r.name}\t${r.verdict}\t${visible(`${r.group ?? '-'}${why}${exception}`)}\n`);
        }
      }
      if (bad > 0) throw new Error(`${bad} input${bad === 1 ? ' was' : 's were'} not a domain name (see above); the rest were checked`);
    });
}
