import { Command, InvalidArgumentError } from 'commander';
import { newToken } from '../control/admin/token.js';
import { ADMIN_NAME } from '../control/config/admin.js';

function nameArg(value: string): string {
  if (!ADMIN_NAME.test(value)) throw new InvalidArgumentError('letters, digits and . _ @ - (at most 64), e.g. alice or alice@corp.example');
  return value;
}

/** `aifence admin token --name alice`: a token for alice to keep, and the hash the config keeps. */
export function adminCommand(): Command {
  const admin = new Command('admin').description('admin API credentials');
  admin
    .command('token')
    .description('print a new random token for a named admin and its SHA-256 for admin.tokens (changes made with it record the name)')
    .requiredOption('--name <name>', "the admin's name, as changes will record it", nameArg)
    .option('--json', 'as one JSON object')
    .action((opts: { name: string; json?: boolean }) => {
      const { token, sha256 } = newToken();
      if (opts.json) {
        process.stdout.write(JSON.stringify({ name: opts.name, token, sha256 }) + '\n');
        return;
      }
      process.stdout.write(
        `token:  ${token}\n` +
          `sha256: ${sha256}\n` +
          `# give the token to ${opts.name} (it is shown once, and never stored by aifence); put this in the config:\n` +
          `admin:\n  tokens:\n    ${opts.name}: { sha256: ${sha256} }\n`,
      );
    });
  return admin;
}
