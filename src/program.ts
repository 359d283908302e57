// aifence's command line: one subcommand a module in src/commands/. Loaded by
// cli.ts (the bin) once `aifence serve` has its memory settings.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { adminCommand } from './commands/admin.js';
import { catalogueCommand } from './commands/catalogue.js';
import { checkCommand } from './commands/check.js';
import { groupsCommand } from './commands/groups.js';
import { healthCommand } from './commands/health.js';
import { listsCommand } from './commands/lists.js';
import { reportCommand } from './commands/report.js';
import { serveCommand } from './commands/serve.js';
import { servicesCommand } from './commands/services.js';

// package.json sits one level above both src/ and dist/.
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

// `aifence services | head -1`: the reader has gone, so the rest of the output
// has nowhere to go. Stop quietly, as `cat` and `grep` do, instead of dying with
// a stack trace. (The daemon logs through pino on its own file descriptor.)
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
// Node 24 LTS is what aifence is built and tested on (Node 20 left support on 2026-04-30). An older one
// still runs it, with a warning rather than a refusal: the office's only resolver must not fail to start over this.
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
if (NODE_MAJOR < 24) {
  process.stderr.write(
    `aifence: warning: running on Node ${process.versions.node}; aifence is built and tested on Node 24 LTS. ` +
      `Run it on the Node 24 that \`npm install\` put beside it: ${fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url))} ` +
      '(the `aifence` command, `npm start` and `npx aifence` use it), or install Node 24 LTS (https://nodejs.org/en/download).\n',
  );
}

const program = new Command('aifence')
  .description('DNS-filtering resolver that enforces bans on AI services')
  .version(version, '-V, --version', 'print the version')
  // `aifence --version` is the program's; after a subcommand the option is the subcommand's (`catalogue pack --version V`).
  .enablePositionalOptions()
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(checkCommand());
program.addCommand(listsCommand());
program.addCommand(servicesCommand());
program.addCommand(catalogueCommand());
program.addCommand(groupsCommand());
program.addCommand(healthCommand());
program.addCommand(reportCommand());
program.addCommand(adminCommand());

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`aifence: ${err.message}\n`);
  process.exit(2);
});
