// The deployment kit in deploy/: the systemd unit passes systemd's own
// checks; the compose file and the Kubernetes manifests parse, and every
// aifence config they carry is read by the real config parser (so they name
// only keys that exist), with the paths and ports they rely on agreeing.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { configFromText } from '../../src/control/config/load.js';
import type { Config } from '../../src/control/config/schema.js';
import { MALLOC_TRIM_THRESHOLD, SEMI_SPACE_MB } from '../../src/commands/serve-memory.js';

const read = (path: string) => readFileSync(path, 'utf8');
/** Environment-independent: no resolv.conf, no AIFENCE_ADMIN_TOKEN from the test's environment. */
const aifenceConfig = (text: string, file: string, env: Record<string, string> = {}): Config => {
  const saved = process.env.AIFENCE_ADMIN_TOKEN;
  if (env.AIFENCE_ADMIN_TOKEN) process.env.AIFENCE_ADMIN_TOKEN = env.AIFENCE_ADMIN_TOKEN;
  else delete process.env.AIFENCE_ADMIN_TOKEN;
  try {
    return configFromText(text, file);
  } finally {
    if (saved === undefined) delete process.env.AIFENCE_ADMIN_TOKEN;
    else process.env.AIFENCE_ADMIN_TOKEN = saved;
  }
};
const hostPort = (hp: { host: string; port: number }) => `${hp.host}:${hp.port}`;

/** `Key=value` lines of a unit file, by key (a key may repeat). */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9]+)=(.*)$/.exec(line.trim());
    if (m) keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2]]);
  }
  return keys;
}

const hasSystemd = spawnSync('systemd-analyze', ['--version']).status === 0;
if (process.env.CI && !hasSystemd) throw new Error('systemd-analyze is missing: .ci/run installs systemd');

describe('deploy/systemd/aifence.service', () => {
  const unit = read('deploy/systemd/aifence.service');
  const keys = unitKeys(unit);
  const one = (k: string) => keys.get(k)?.join(' ');

  it.runIf(hasSystemd)('passes systemd-analyze verify without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-unit-'));
    // verify checks that ExecStart's program exists: the Node 24 in the clone's node_modules, /opt/aifence read as this checkout.
    writeFileSync(join(dir, 'aifence.service'), unit.replaceAll('/opt/aifence/', `${resolve('.')}/`));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'aifence.service')], { encoding: 'utf8' });
    // Unknown keys and bad values are only warnings to systemd: any output is a mistake here.
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.runIf(hasSystemd)("is rated OK by systemd's own exposure score (offline)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-unit-'));
    copyFileSync('deploy/systemd/aifence.service', join(dir, 'aifence.service'));
    // Exposure 0.0 (locked down) to 10.0 (unprotected), given in tenths; 2.0 and below is "OK".
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', join(dir, 'aifence.service')], { encoding: 'utf8' });
    expect(r.status, r.stdout.split('\n').slice(-3).join('\n')).toBe(0);
  });

  it('runs unprivileged with only the capability to bind port 53, sandboxed, reloadable, memory settings left to serve', () => {
    expect(one('DynamicUser') === 'yes' || (keys.has('User') && one('User') !== 'root')).toBe(true);
    expect(one('AmbientCapabilities')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ExecReload')).toMatch(/kill -HUP \$MAINPID/);
    // serve applies its memory settings itself (test/cli/memory-settings.test.ts): the unit must not pin other ones.
    expect(one('Environment')).not.toMatch(/MALLOC_TRIM_THRESHOLD_|semi-space/);
    expect(one('Restart')).toMatch(/always|on-failure/);
  });

  it('serves deploy/aifence.yaml, whose writable paths are the only ones the sandbox leaves writable', () => {
    const exec = one('ExecStart')!.split(/\s+/);
    expect(exec.slice(2)).toEqual(['serve', '--config', '/etc/aifence/aifence.yaml']);
    const config = aifenceConfig(read('deploy/aifence.yaml'), '/etc/aifence/aifence.yaml');
    // ProtectSystem=strict: only StateDirectory (/var/lib/NAME) and LogsDirectory (/var/log/NAME) are writable.
    expect(config.dataDir).toBe(`/var/lib/${one('StateDirectory')}`);
    expect(dirname(config.queryLog.path)).toBe(`/var/log/${one('LogsDirectory')}`);
    expect(config.listen.map(hostPort)).toEqual(['0.0.0.0:53', ':::53']);
    expect(config.groups[0].block.map((r) => r.select)).toEqual(['service:deepseek', 'tag:cn']);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = parseYaml(read('deploy/compose.yaml'));
  const aifence = compose.services.aifence;
  const mounts = (aifence.volumes as string[]).map((v) => v.split(':'));

  it('runs aifence with host networking, so client addresses (and groups) survive', () => {
    expect(aifence.network_mode).toBe('host');
    expect(aifence.cap_add).toEqual(['NET_BIND_SERVICE']);
    expect(aifence.cap_drop).toEqual(['ALL']);
    expect(aifence.read_only).toBe(true);
  });

  it('mounts a config the real parser accepts, with dataDir on a named volume', () => {
    const [source, target] = mounts.find(([, t]) => t === '/etc/aifence/aifence.yaml')!;
    const config = aifenceConfig(read(join('deploy', source)), target);
    const data = mounts.find(([, t]) => t === config.dataDir);
    expect(data, `a volume at dataDir ${config.dataDir}`).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(data![0]);
    expect(config.queryLog.path.startsWith(config.dataDir + '/')).toBe(true); // the root is read-only
  });

  it('has Prometheus scraping the admin address of that config', () => {
    const prometheus = compose.services.prometheus;
    expect(prometheus.network_mode).toBe('host');
    const file = (prometheus.volumes as string[]).map((v) => v.split(':')).find(([, t]) => t === '/etc/prometheus/prometheus.yml')![0];
    const scrape = parseYaml(read(join('deploy', file)));
    const targets = scrape.scrape_configs.flatMap((s: { static_configs: { targets: string[] }[] }) => s.static_configs.flatMap((c) => c.targets));
    const [source] = mounts.find(([, t]) => t === '/etc/aifence/aifence.yaml')!;
    const admin = aifenceConfig(read(join('deploy', source)), '/etc/aifence/aifence.yaml').admin.listen!;
    expect(targets).toContain(hostPort(admin));
  });
});

describe('deploy/kubernetes', () => {
  const docs = readdirSync('deploy/kubernetes')
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(read(join('deploy/kubernetes', f))).map((d) => {
        expect(d.errors, f).toEqual([]);
        return d.toJS();
      }),
    );
  const kind = (k: string) => docs.find((d) => d.kind === k);
  // A StatefulSet: each pod has a volume of its own that outlives it (the query log, downloaded lists, the token).
  const workload = kind('StatefulSet');
  const pod = workload.spec.template.spec;
  const container = pod.containers[0];
  const configMap = kind('ConfigMap');
  const config = aifenceConfig(configMap.data['aifence.yaml'], '/etc/aifence/aifence.yaml', { AIFENCE_ADMIN_TOKEN: 'from-the-secret' });
  const port = (name: string) => container.ports.find((p: { name: string }) => p.name === name);

  it('lists every manifest in the kustomization', () => {
    const kustomization = kind('Kustomization');
    expect(kustomization.resources.sort()).toEqual(readdirSync('deploy/kubernetes').filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('carries a config the real parser accepts, and the daemon is started with it', () => {
    expect(container.args).toEqual(['serve', '--config', '/etc/aifence/aifence.yaml']);
    expect(config.groups[0].block.length).toBeGreaterThan(0);
  });

  it('mounts the ConfigMap as a directory (no subPath), so updates arrive and the ..data swap reloads', () => {
    const volume = pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap?.name === configMap.metadata.name);
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name);
    expect(mount.mountPath).toBe('/etc/aifence');
    expect(mount.subPath).toBeUndefined();
  });

  it('gives dataDir a writable volume under a read-only root, as an unprivileged user', () => {
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === config.dataDir);
    expect(mount, `a volume at dataDir ${config.dataDir}`).toBeDefined();
    expect(mount.readOnly).not.toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('keeps each pod\'s query log on a persistent volume of its own (or in PostgreSQL), never on an emptyDir lost with the pod', () => {
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === config.dataDir);
    expect(pod.volumes.find((v: { name: string }) => v.name === mount.name), 'dataDir is not a pod volume (emptyDir and the like)').toBeUndefined();
    const claim = workload.spec.volumeClaimTemplates.find((t: { metadata: { name: string } }) => t.metadata.name === mount.name);
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(config.queryLog.mode).not.toBe('off');
    if (config.queryLog.sink?.kind !== 'postgres') expect(config.queryLog.path.startsWith(config.dataDir + '/')).toBe(true);
    // Room for the log as it rotates (maxSize x (keep + 1)) and the lists beside it.
    const gib = Number(/^(\d+)Gi$/.exec(claim.spec.resources.requests.storage)![1]);
    expect(config.queryLog.maxSize * (config.queryLog.keep + 1)).toBeLessThan(gib * 2 ** 30 * 0.8);
    expect(workload.spec.serviceName).toBe(kind('Service').metadata.name);
  });

  it('has a Service answering DNS on 53 over UDP and TCP, forwarded to the port the config listens on', () => {
    const service = kind('Service');
    const ports = service.spec.ports.map((p: { port: number; protocol: string; targetPort: string }) => [p.port, p.protocol, port(p.targetPort)?.containerPort, port(p.targetPort)?.protocol]);
    const listen = config.listen[0].port;
    expect(ports).toEqual([
      [53, 'UDP', listen, 'UDP'],
      [53, 'TCP', listen, 'TCP'],
    ]);
    expect(service.spec.selector).toEqual(workload.spec.selector.matchLabels);
    expect(service.spec.externalTrafficPolicy).toBe('Local'); // client addresses, and so groups, survive
  });

  it('probes /healthz and /readyz on the admin port of the config, whose token comes from a Secret', () => {
    const admin = port('admin');
    expect(admin.containerPort).toBe(config.admin.listen!.port);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    // A terminating pod keeps answering until every node has dropped it from the Service, within its grace period.
    expect(container.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(5).toBeLessThan(pod.terminationGracePeriodSeconds);
    const token = container.env.find((e: { name: string }) => e.name === 'AIFENCE_ADMIN_TOKEN');
    expect(token.valueFrom.secretKeyRef).toBeDefined();
    // Without the token the same config must refuse to start (admin beyond loopback).
    expect(() => aifenceConfig(configMap.data['aifence.yaml'], '/etc/aifence/aifence.yaml')).toThrow(/admin\.listen.*without a token/);
  });
});

describe('deploy/systemd/aifence.socket', () => {
  const keys = unitKeys(read('deploy/systemd/aifence.socket'));
  const one = (k: string) => keys.get(k)?.join(' ');

  it.runIf(hasSystemd)('passes systemd-analyze verify beside the service, without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-unit-'));
    // As for the service alone: its ExecStart's program, /opt/aifence read as this checkout.
    for (const unit of ['aifence.service', 'aifence.socket']) writeFileSync(join(dir, unit), read(`deploy/systemd/${unit}`).replaceAll('/opt/aifence/', `${resolve('.')}/`));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'aifence.socket'), join(dir, 'aifence.service')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('holds UDP and TCP on exactly the listen addresses of deploy/aifence.yaml (a stray socket stops the start)', () => {
    const config = aifenceConfig(read('deploy/aifence.yaml'), '/etc/aifence/aifence.yaml');
    const addresses = config.listen.map((a) => (a.family === 6 ? `[${a.host}]:${a.port}` : hostPort(a))).sort();
    expect([...(keys.get('ListenDatagram') ?? [])].sort()).toEqual(addresses);
    expect([...(keys.get('ListenStream') ?? [])].sort()).toEqual(addresses);
    // aifence binds [::]:53 for IPv6 only: a dual-stack socket would hold 0.0.0.0:53's port too.
    expect(one('BindIPv6Only')).toBe('ipv6-only');
    expect(one('FreeBind')).toBe('yes');
    expect(one('Service')).toBe('aifence.service');
    expect(one('ReusePort')).toMatch(/^(yes|no)$/);
  });

  it("comes with the memory settings a socket-activated serve cannot apply itself, serve's own values", () => {
    const dropIn = unitKeys(read('deploy/systemd/aifence.service.d/socket-activation.conf'));
    const env = Object.fromEntries(dropIn.get('Environment')!.join(' ').split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    expect(env).toMatchObject({ MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD), NODE_OPTIONS: `--max-semi-space-size=${SEMI_SPACE_MB}` });
    expect(Number(env.MALLOC_ARENA_MAX)).toBeGreaterThanOrEqual(3);
  });
});

describe('deploy/dhcp.md', () => {
  it('covers each DHCP server and the second-resolver rule', () => {
    const text = read('deploy/dhcp.md');
    for (const heading of ['ISC Kea', 'dnsmasq', 'Windows Server DHCP', 'MikroTik RouterOS', 'pfSense and OPNsense']) expect(text).toContain(`## ${heading}`);
    expect(text).toMatch(/Every DNS server you hand out must be an aifence/);
  });
});


describe('README and docs/deploy.md', () => {
  it('point only at kit files that exist, and the first screen installs from them', () => {
    const readme = read('README.md');
    const guides = readme + read('docs/deploy.md');
    const paths = [...new Set([...guides.matchAll(/\bdeploy\/[\w./-]*[\w/]/g)].map((m) => m[0]))];
    expect(paths.length).toBeGreaterThan(5);
    for (const p of paths) expect(existsSync(p), p).toBe(true);
    const firstRun = readme.slice(readme.indexOf('## First run'), readme.indexOf('## What it does'));
    expect(firstRun).toContain('sudo install -D -m 644 deploy/aifence.yaml /etc/aifence/aifence.yaml');
    expect(firstRun).toContain('sudo cp deploy/systemd/aifence.service /etc/systemd/system/');
    // A fresh clone has no ../shared: the README says what the corpus tests need and that they skip without it.
    expect(readme.slice(readme.indexOf('## Development'))).toContain('../shared/data');
    // The clone goes where the unit runs it from, on the Node 24 that `npm install` brought into it.
    const clone = /git clone \S+ (\/\S+)/.exec(firstRun)![1];
    expect(read('deploy/systemd/aifence.service')).toContain(`ExecStart=${clone}/node_modules/node/bin/node ${clone}/dist/cli.js serve`);
  });
});
