// aifence's command line: one subcommand a module in src/commands/. Loaded by
// cli.ts (the bin) once `aifence serve` has its memory settings.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';

/** Each subcommand's module, loaded only when it is the one asked for (or for help over all of them). */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.js')).serveCommand(),
  check: async () => (await import('./commands/check.js')).checkCommand(),
  lists: async () => (await import('./commands/lists.js')).listsCommand(),
  services: async () => (await import('./commands/services.js')).servicesCommand(),
  catalogue: async () => (await import('./commands/catalogue.js')).catalogueCommand(),
  groups: async () => (await import('./commands/groups.js')).groupsCommand(),
  health: async () => (await import('./commands/health.js')).healthCommand(),
  report: async () => (await import('./commands/report.js')).reportCommand(),
  admin: async () => (await import('./commands/admin.js')).adminCommand(),
};

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

// `aifence serve` loads serve's modules alone (the daemon starts sooner); anything else (help, a typo) gets them all.
const asked = process.argv[2];
const commands = asked !== undefined && Object.hasOwn(COMMANDS, asked) ? [COMMANDS[asked]] : Object.values(COMMANDS);
for (const command of await Promise.all(commands.map((load) => load()))) program.addCommand(command);

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`aifence: ${err.message}\n`);
  process.exit(2);
});
