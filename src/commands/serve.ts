import { Command } from 'commander';
import { ConfigError } from '../control/config/check.js';
import { listenAt } from '../control/config/admin.js';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../control/config/load.js';
import { parseHostPort } from '../net/address.js';
import { createLogger } from '../shared/logger.js';
import { Daemon } from '../control/daemon.js';
import { describeListenFds, takeListenFds } from '../control/activation.js';
import { startup } from '../shared/startup.js';
import { MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD, MARKER, SEMI_SPACE_MB, limitHeapGrowth, memorySettings } from './serve-memory.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('answer DNS on the listen addresses, filtering by policy')
    .option('-c, --config <file>', 'config file (default: config/aifence.yaml of the package)')
    .option('-l, --listen <addr:port...>', 'listen here instead of the config\'s listen addresses')
    .option('--admin <addr:port>', "admin API here instead of the config's admin.listen (off to disable)")
    .option('--pretty', 'human-readable logs instead of JSON lines')
    .option('--log-level <level>', 'trace | debug | info | warn | error', 'info')
    .action(async (opts: { config?: string; listen?: string[]; admin?: string; pretty?: boolean; logLevel: string }) => {
      startup.mark('program');
      const log = createLogger({ level: opts.logLevel, pretty: opts.pretty });
      // systemd socket activation: taken before any thread starts (each copies the environment).
      const listenFds = takeListenFds();
      if (listenFds.ignored) log.warn(listenFds.ignored);
      const passed = describeListenFds(listenFds.fds);
      if (passed.length > 0) log.info({ sockets: passed.length }, 'adopting the sockets the service manager passed instead of binding their addresses');
      const configFile = opts.config ?? DEFAULT_CONFIG_PATH;
      const config = loadConfig(configFile);
      startup.mark('config');
      if (opts.admin) config.admin = listenAt(config.admin, opts.admin);
      const listen = opts.listen?.map((l, i) => {
        const hp = parseHostPort(l, 53);
        if (!hp) throw new ConfigError(`--listen[${i}]`, l, 'is not an IP address with a port, e.g. 127.0.0.1:5300 or [::1]:5300');
        return hp;
      });
      const daemon = await Daemon.start(config, { log, listen, configFile, passed, startup, onFatal: () => process.exit(1) });
      // Semi-space and glibc settings were applied by cli.ts before the program loaded; the heap's growth
      // is limited only now, after the start-up compile (serve-memory.ts). Said here, where the log is.
      const memory = { ...memorySettings(), heapGrowingPercent: limitHeapGrowth() };
      if (memory.semiSpaceMB !== null && memory.mallocTrimThreshold !== null && memory.mallocArenaMax !== null) log.info({ memory }, 'memory settings');
      else {
        const why =
          memory.appliedBy === 'off'
            ? `, or unset ${MARKER}=off`
            : passed.length > 0
              ? ' in the unit\'s Environment= (started with passed sockets, it cannot re-execute itself with them: the sockets would be lost)'
              : ' (it could not re-execute itself with them: Node older than 22.15, or node\'s permission model)';
        const fix = `start it with MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD} MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX} NODE_OPTIONS=--max-semi-space-size=${SEMI_SPACE_MB}${why}`;
        log.warn({ memory, fix }, 'memory settings missing: RSS may grow under load');
      }
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping: finishing queries in flight');
        daemon.stop().then(
          () => {
            log.info('stopped');
            log.flush?.();
            process.exit(0);
          },
          (err: unknown) => {
            log.error({ err }, 'stop failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGHUP', () => void daemon.reload());
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
