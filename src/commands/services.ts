import { Command } from 'commander';
import { loadCatalogue } from '../catalogue/index.js';

export function servicesCommand(): Command {
  return new Command('services')
    .description('the AI-service catalogue: id, name, vendor, country, tags, how many names')
    .option('--json', 'one JSON object a line')
    .action((opts: { json?: boolean }) => {
      for (const s of loadCatalogue().services) {
        const row = { id: s.id, name: s.name, vendor: s.vendor, country: s.country, tags: s.tags, names: s.domains.length };
        if (opts.json) process.stdout.write(JSON.stringify(row) + '\n');
        else process.stdout.write(`${s.id}\t${s.name}\t${s.vendor}\t${s.country}\t${s.tags.join(',')}\t${s.domains.length}\n`);
      }
    });
}
