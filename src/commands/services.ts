import { Command } from 'commander';
import { catalogueCountries, catalogueVendors, loadCatalogue, vendorId } from '../control/catalogue/index.js';
import { catalogueInUse } from '../control/catalogue/updates.js';
import { loadConfig } from '../control/config/load.js';
import { createLogger } from '../shared/logger.js';

export function servicesCommand(): Command {
  return new Command('services')
    .description('the AI-service catalogue: id, name, vendor (selector vendor:ID), country, tags, how many names; its version and review date')
    .option('-c, --config <file>', "config file: with a 'catalogue' section, show the signed bundle kept in its dataDir (default: the packaged catalogue)")
    .option('--vendors', 'one line per vendor: vendor:ID, name, its services')
    .option('--countries', "one line per vendors' country: tag:CODE, how many services, the country's name")
    .option('--json', 'one JSON object a line; the first describes the catalogue')
    .action((opts: { config?: string; json?: boolean; vendors?: boolean; countries?: boolean }) => {
      // `aifence services | head` closes the pipe early: that is the reader's choice, not an error.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
      // The CLI reads what the daemon would start from: the verified bundle on disk, else the packaged catalogue.
      const config = opts.config === undefined ? undefined : loadConfig(opts.config);
      const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
      const { catalogue: cat, status } = catalogueInUse(config?.catalogue, () => loadCatalogue(), log);
      const out = (line: string) => process.stdout.write(line + '\n');
      if (opts.json) out(JSON.stringify({ catalogue: status }));
      else {
        const extra = status.origin === 'bundle' ? `, signed ${status.created}, expires ${status.expires}` : '';
        out(`# catalogue ${status.version} (${status.origin}${extra}), reviewed ${status.reviewed}, ${status.services} services`);
        if (status.lastError) out(`# last update problem: ${status.lastError}`);
        if (status.copyRefused) out(`# bundle on disk refused: ${status.copyRefused}`);
      }
      if (opts.countries) {
        for (const c of catalogueCountries(cat)) {
          if (opts.json) out(JSON.stringify({ tag: `tag:${c.code}`, country: c.code, name: c.name, services: c.services.length }));
          else out(`tag:${c.code}\t${c.services.length}\t${c.name}`);
        }
        return;
      }
      if (opts.vendors) {
        for (const v of catalogueVendors(cat)) {
          if (opts.json) out(JSON.stringify({ vendor: v.id, name: v.name, services: v.services }));
          else out(`vendor:${v.id}\t${v.name}\t${v.services.join(',')}`);
        }
        return;
      }
      for (const s of cat.services) {
        // vendor: selects generative-AI services only, never the DoH resolvers.
        const vendor = s.tags.includes('genai') ? vendorId(s.vendor) : undefined;
        const row = { id: s.id, name: s.name, vendor: s.vendor, vendorId: vendor, country: s.country, tags: s.tags, names: s.domains.length };
        if (opts.json) out(JSON.stringify(row));
        else out(`${s.id}\t${s.name}\t${s.vendor}${vendor ? ` (vendor:${vendor})` : ''}\t${s.country}\t${s.tags.join(',')}\t${s.domains.length}`);
      }
    });
}
