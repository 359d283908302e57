// The peers: unbound, dnsmasq and dnsdist as filtering forwarders, each with
// the benchmark's list (in the form it reads) and the same upstream, set up
// as ../shared/docs/PEERS.md describes; every setting not written here is
// the package default. Each is started in the foreground, pinned like
// aifence, and is ready when it answers a listed name NXDOMAIN (its list is
// loaded).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZONE } from './data.js';
import { pinning, rssMB, startServer } from './proc.js';
import type { Running, Target } from './targets.js';
import { freePort, probe } from './upstream.js';

export const PEERS = ['unbound', 'dnsmasq', 'dnsdist'] as const;
export type Peer = (typeof PEERS)[number];

/** Generous: unbound takes ~5 s and dnsdist ~9 s for 1M names on this machine when idle. */
const LOAD_TIMEOUT_MS = 300_000;

function firstListed(listFile: string): string {
  const text = readFileSync(listFile, 'latin1');
  return text.slice(0, text.indexOf('\n'));
}

/** Starts `argv` pinned to the server core; ready once a listed name gets NXDOMAIN. */
async function startPeer(argv: string[], port: number, listFile: string): Promise<Running> {
  const listed = firstListed(listFile);
  const s = await startServer(argv, pinning.server, async () => (await probe(port, listed, 200)) === 3, LOAD_TIMEOUT_MS);
  return { pid: s.pid, port, startMs: s.readyMs, rssMB: rssMB(s.pid), stop: s.stop };
}

/** Writes `path` line by line from the list without holding a second copy of it as lines. */
function writeFromList(path: string, listFile: string, head: string[], line: (name: string) => string, tail: string[] = []): void {
  const names = readFileSync(listFile, 'latin1').split('\n').filter(Boolean);
  writeFileSync(path, [...head, ...names.map(line), ...tail, ''].join('\n'));
}

export function unboundTarget(binary: string, workDir: string, threads = 1): Target {
  return {
    name: threads === 1 ? 'unbound' : `unbound (${threads} threads)`,
    scenarios: ['blocked', 'hits', 'misses', 'mix'],
    loadsList: true,
    async start(listFile, upstreamPort) {
      const port = await freePort();
      const conf = join(workDir, 'unbound.conf');
      writeFromList(
        conf,
        listFile,
        [
          'server:',
          '  interface: 127.0.0.1',
          `  port: ${port}`,
          `  num-threads: ${threads}`,
          `  directory: "${workDir}"`,
          '  chroot: ""',
          '  username: ""',
          `  pidfile: "${join(workDir, 'unbound.pid')}"`,
          '  use-syslog: no',
          '  logfile: ""',
          '  verbosity: 0',
          // The upstream is on 127/8, which unbound refuses to query by default.
          '  do-not-query-localhost: no',
          // No DNSSEC validation: no trust anchor, and the other servers do not validate either.
          '  module-config: "iterator"',
          // RFC 6761's test. is one of unbound's default local zones (NXDOMAIN); the benchmark's zone is under it.
          '  local-zone: "test." nodefault',
        ],
        (d) => `  local-zone: "${d}." always_nxdomain`,
        ['forward-zone:', '  name: "."', `  forward-addr: 127.0.0.1@${upstreamPort}`],
      );
      return startPeer([binary, '-d', '-c', conf], port, listFile);
    },
  };
}

export function dnsmasqTarget(binary: string, workDir: string): Target {
  return {
    name: 'dnsmasq',
    scenarios: ['blocked', 'hits', 'misses', 'mix'],
    loadsList: true,
    async start(listFile, upstreamPort) {
      const port = await freePort();
      const conf = join(workDir, 'dnsmasq.conf');
      writeFromList(
        conf,
        listFile,
        [
          `port=${port}`,
          'listen-address=127.0.0.1',
          'bind-interfaces',
          `server=127.0.0.1#${upstreamPort}`,
          'no-resolv',
          'no-hosts',
          'pid-file=',
          // The default, 150 forwards at once, is below the benchmark's 200 outstanding queries: dnsmasq would
          // answer the rest REFUSED, which is cheap and not an answer. PEERS.md's runs kept dnsperf at 100 instead.
          'dns-forward-max=1000',
        ],
        // In 2.90 an address with no IP answers NXDOMAIN for the name and all below it.
        (d) => `address=/${d}/`,
      );
      return startPeer([binary, '-k', '-C', conf], port, listFile);
    },
  };
}

export function dnsdistTarget(binary: string, workDir: string, listeners = 1): Target {
  return {
    name: listeners === 1 ? 'dnsdist' : `dnsdist (${listeners} listeners)`,
    scenarios: ['blocked', 'hits', 'misses', 'mix'],
    loadsList: true,
    async start(listFile, upstreamPort) {
      const port = await freePort();
      const conf = join(workDir, 'dnsdist.conf');
      const lines = [
        `setLocal("127.0.0.1:${port}", { reusePort = true })`,
        ...Array.from({ length: listeners - 1 }, () => `addLocal("127.0.0.1:${port}", { reusePort = true })`),
        // The health check asks a name the upstream serves (the default, a.root-servers.net, would mark it down).
        `newServer({ address = "127.0.0.1:${upstreamPort}", checkName = "health.${ZONE}." })`,
        'setSecurityPollSuffix("")',
        'smn = newSuffixMatchNode()',
        `for line in io.lines(${JSON.stringify(listFile)}) do if line ~= "" then smn:add(line) end end`,
        'addAction(SuffixMatchNodeRule(smn, true), RCodeAction(DNSRCode.NXDOMAIN))',
        // dnsdist has no cache unless given one, and no default size.
        'pc = newPacketCache(100000)',
        'getPool(""):setCache(pc)',
        '',
      ];
      writeFileSync(conf, lines.join('\n'));
      return startPeer([binary, '--supervised', '--disable-syslog', '-C', conf], port, listFile);
    },
  };
}
