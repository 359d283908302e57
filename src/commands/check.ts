import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../control/config/load.js';
import { buildFilter } from '../control/policy/filter.js';
import { CheckInputError, type CheckResult, checkClient, checkNames, checkTarget } from '../control/policy/explain.js';
import { DaemonUnavailable, adminTarget, adminToken, checkWithDaemon } from '../control/admin/client.js';
import { type HostPort, formatHostPort, parseHostPort } from '../net/address.js';
import { visible } from '../text/visible.js';
import { Identity } from '../control/identity/identity.js';
import { createLogger } from '../shared/logger.js';

interface CheckOpts {
  config?: string;
  file?: string;
  client: string;
  json?: boolean;
  offline?: boolean;
  token?: string;
  admin?: string;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('show the verdict for names, and the group, rule and list entry that decided it; asks the running daemon when one answers (its runtime exceptions and pauses count), else decides from the config')
    .argument('[names...]', 'names to check (a URL is checked by its host)')
    .option('-c, --config <file>', 'config file')
    .option('-f, --file <file>', 'read names one a line from this file')
    .option('--client <client>', 'decide as for this client: an address, a device id a group lists, or a host name identity knows (a static name or a lease in force)', '127.0.0.1')
    .option('--json', 'one JSON object a line')
    .option('--offline', 'decide from the config alone, without asking the running daemon')
    .option('--token <token>', "the admin token (default: AIFENCE_ADMIN_TOKEN, admin.token, or dataDir/admin.token)")
    .option('--admin <addr:port>', 'the admin API to ask (default: admin.listen of the config)')
    .action(async (names: string[], opts: CheckOpts) => {
      const client = opts.client;
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
        const { results, source, how } = await decide(targets, client, opts);
        // A client given by name: what it was read as, once, before the verdicts (in JSON, the `client` field of each).
        if (!opts.json && results[0]?.client) process.stdout.write(`# client ${visible(results[0].client)}\n`);
        // Which it used goes with the verdicts: a field of each JSON line, a last line (a comment) of the text.
        for (const r of results) process.stdout.write(opts.json ? JSON.stringify({ ...r, source }) + '\n' : line(r));
        if (!opts.json) process.stdout.write(`# ${how}\n`);
      }
      if (bad > 0) throw new Error(`${bad} input${bad === 1 ? ' was' : 's were'} not a domain name (see above); the rest were checked`);
    });
}

/** The running daemon's verdicts when one answers for this config, else the config's own; and a line saying which. */
async function decide(names: string[], client: string, opts: CheckOpts): Promise<{ results: CheckResult[]; source: 'daemon' | 'config'; how: string }> {
  const config = loadConfig(opts.config);
  let at: HostPort | null = adminTarget(config);
  if (opts.admin !== undefined) {
    at = parseHostPort(opts.admin, 8053);
    if (at === null) throw new Error(`--admin: "${opts.admin}" is not an IP address with a port, e.g. 127.0.0.1:8053`);
  }
  let why = 'asked for --offline';
  if (!opts.offline && at !== null) {
    const token = opts.token ?? adminToken(config);
    try {
      const results = await checkWithDaemon(at, names, client, { token, configFile: opts.admin === undefined ? config.file : undefined });
      return { results, source: 'daemon', how: `asked the running daemon at ${formatHostPort(at)} (its runtime exceptions and pauses included)` };
    } catch (err) {
      if (!(err instanceof DaemonUnavailable)) throw err;
      // A token given on the command line that the daemon refuses is an error, not a reason to guess; so is a client it cannot read.
      if (opts.token !== undefined && /answered 40[13]/.test(err.message)) throw err;
      if (/answered 400: client /.test(err.message)) throw new Error(err.message.replace(/^.*answered 400: /, ''));
      why = err.message;
    }
  } else if (at === null && !opts.offline) {
    why = 'admin.listen is off';
  }
  const filter = await buildFilter(config);
  const who = await offlineClient(client, filter.state.clients, config);
  const results = await checkNames(filter, names, who);
  return { results, source: 'config', how: `decided from ${config.file ?? 'the config'} alone (${visible(why)}): runtime exceptions and pauses not included` };
}

/** The client from the config alone: an address as it is; a name read against the groups' devices and the lease files and static names now. */
async function offlineClient(client: string, clients: Parameters<typeof checkClient>[1], config: ReturnType<typeof loadConfig>): Promise<ReturnType<typeof checkClient>> {
  if (config.identity.leases.length === 0 && config.identity.hosts.length === 0) return checkClient(client, clients);
  const identity = await Identity.start(config.identity, createLogger({ level: 'silent' }), { watch: false, reverse: false });
  try {
    return checkClient(client, clients, identity);
  } finally {
    identity.close();
  }
}

/** One result as a line for a person: name, verdict, then what decided. */
function line(r: CheckResult): string {
  const why = r.list ? `  ${r.list}${r.line ? ` line ${r.line}` : ''}: ${r.entry}` : '';
  const enforced = r.enforced ? `  (enforced: enforce ${r.rule?.select ?? ''}; no group, exception or pause re-opens it)` : '';
  const paused = r.paused ? '  (blocking paused for this group)' : '';
  const exception = r.exception ? `  (exception ${r.exception.select}${r.exception.until ? ` until ${r.exception.until}` : ''}${r.exception.reason ? `: ${r.exception.reason}` : ''})` : '';
  // Names are in presentation form already; reasons and entries come from lists and Redis: no raw control byte reaches the terminal.
  return `${r.name}\t${r.verdict}\t${visible(`${r.group ?? '-'}${why}${enforced}${paused}${exception}`)}\n`;
}
