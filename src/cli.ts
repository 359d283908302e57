#!/usr/bin/env node
// aifence's command line: one subcommand a module in src/commands/.

import { Command } from 'commander';
import { catalogueCommand } from './commands/catalogue.js';
import { checkCommand } from './commands/check.js';
import { groupsCommand } from './commands/groups.js';
import { healthCommand } from './commands/health.js';
import { listsCommand } from './commands/lists.js';
import { reportCommand } from './commands/report.js';
import { serveCommand } from './commands/serve.js';
import { servicesCommand } from './commands/services.js';

const program = new Command('aifence')
  .description('DNS-filtering resolver that enforces bans on AI services')
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(checkCommand());
program.addCommand(listsCommand());
program.addCommand(servicesCommand());
program.addCommand(catalogueCommand());
program.addCommand(groupsCommand());
program.addCommand(healthCommand());
program.addCommand(reportCommand());

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`aifence: ${err.message}\n`);
  process.exit(2);
});
