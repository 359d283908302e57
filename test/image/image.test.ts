// npm run test:image: the Dockerfile built for real and the image run as
// deploy/ runs it. Podman, not Docker (none here, and Docker Hub's
// node:24-bookworm-slim is out of reach): the base is made locally
// (test/image/base.sh: Debian bookworm from mmdebstrap, Node 24 from the
// pinned npm package) and passed as BASE; the image is left behind as
// localhost/aifence:test. The runs:
//   - as the check and the Dockerfile's header run it: host network,
//     /etc/aifence mounted read-only: a blocked name and a forwarded one
//     (dig), the HEALTHCHECK, a non-root uid, SIGTERM -> exit 0;
//   - its built-in config in a network namespace of its own, ports published;
//   - with the settings of deploy/kubernetes (user, read-only root, no
//     capabilities, the ConfigMap unchanged, its container ports published,
//     the probes' paths, the data volume) and of deploy/compose.yaml (host
//     network, root without capabilities but one, read-only, its config and
//     volume, the HEALTHCHECK, Prometheus's target), read from the files.
// Podman here needs runc and cgroupfs: test/image/containers.conf.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse, stringify } from 'yaml';
import { healthcheck, instructions } from '../support/dockerfile.js';
import { freePort, lowPort } from '../support/servers.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const IMAGE = 'localhost/aifence:test';
const DOCKERFILE = readFileSync('Dockerfile', 'utf8');
const env = { ...process.env, CONTAINERS_CONF: resolve('test/image/containers.conf') };
const exec = promisify(execFile);
const podman = async (...args: string[]) => (await exec('podman', ['--runtime', 'runc', ...args], { env, maxBuffer: 64 << 20 })).stdout.trim();
const names: string[] = [];

/** A command with its output shown as it goes (the base and the build steps, in CI's log). */
function shown(cmd: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c;
      process.stderr.write(c);
    });
    child.on('exit', (code) => (code === 0 ? ok(out.trim()) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

/** dig at 127.0.0.1: status and the answer section's records. */
async function dig(port: number, name: string, ...options: string[]): Promise<{ status: string; answers: string[] }> {
  const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(port), name, 'A', '+time=3', '+tries=2', ...options]);
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? '';
  return { status: /status: (\w+)/.exec(stdout)![1], answers: section.split('\n').filter(Boolean) };
}

class Container {
  private constructor(readonly name: string) {}

  /** `podman run -d` with these options, the image, then these arguments; resolves once the daemon says it serves. */
  static async run(label: string, options: string[], args: string[] = []): Promise<Container> {
    const name = `aifence-test-${process.pid}-${label}`;
    names.push(name);
    // No health timer (podman would ask systemd for one): the tests run the HEALTHCHECK themselves.
    await podman('run', '-d', '--name', name, '--health-interval=disable', ...options, IMAGE, ...args);
    const c = new Container(name);
    for (let i = 0; i < 300 && !(await c.logs()).includes('"msg":"aifence serving"'); i++) {
      if ((await c.state()).Running !== true) throw new Error(`${name} exited: ${await c.logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return c;
  }

  logs(): Promise<string> {
    return podman('logs', this.name);
  }

  async state(): Promise<{ Running: boolean; Pid: number; ExitCode: number }> {
    return JSON.parse(await podman('inspect', '--format', '{{json .State}}', this.name));
  }

  /** The uid and gid of the daemon, from /proc on this machine (rootful podman maps none). */
  async ids(): Promise<{ uid: number[]; gid: number[] }> {
    const status = readFileSync(`/proc/${(await this.state()).Pid}/status`, 'utf8');
    const ids = (k: string) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(status)![1].split(/\s+/).map(Number);
    return { uid: ids('Uid'), gid: ids('Gid') };
  }

  /** The image's HEALTHCHECK, run now: true when healthy. */
  async healthy(): Promise<boolean> {
    return podman('healthcheck', 'run', this.name).then(
      () => true,
      () => false,
    );
  }

  /** The host port a container port is published on. */
  async published(port: number, protocol: string): Promise<number> {
    const line = await podman('port', this.name, `${port}/${protocol.toLowerCase()}`);
    return Number(line.split(':').pop());
  }

  /** `podman stop` (the image's stop signal, SIGTERM) with this grace period: the exit code and how long it took. */
  async stop(graceSeconds: number): Promise<{ code: number; ms: number }> {
    const started = performance.now();
    await podman('stop', '--time', String(graceSeconds), this.name);
    return { code: (await this.state()).ExitCode, ms: performance.now() - started };
  }
}

/** A directory for a volume, owned as the container's user will need it. */
function volume(uid: number, gid: number, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-image-'));
  chownSync(dir, uid, gid);
  chmodSync(dir, mode);
  return dir;
}

/** Polls a file on a volume until it holds `text` (the query log is written in batches every 200 ms). */
async function fileContaining(path: string, text: string): Promise<string> {
  let content = '';
  for (let i = 0; i < 50 && !content.includes(text); i++) {
    await new Promise((r) => setTimeout(r, 100));
    content = existsSync(path) ? readFileSync(path, 'utf8') : '';
  }
  return content;
}

// Rootful podman, as .ci/run runs it: the uids a test reads in /proc are the container's own.
const ready = toolsPresent(['podman', 'runc', 'mmdebstrap', 'iptables', 'dig'], 'podman runc mmdebstrap containernetworking-plugins iptables bind9-dnsutils') && asRoot();

function asRoot(): boolean {
  if (process.getuid?.() === 0) return true;
  const message = 'npm run test:image runs podman and mmdebstrap as root (sudo npm run test:image)';
  if (process.env.CI) throw new Error(message);
  console.warn(`skipped: ${message}`);
  return false;
}

describe.runIf(ready)('the container image (podman)', () => {
  let upstream: TestUpstream;
  /** The image's own config (docker/aifence.yaml), as the Dockerfile copies it in. */
  const builtIn = parse(readFileSync('docker/aifence.yaml', 'utf8'));

  beforeAll(async () => {
    const base = (await shown('test/image/base.sh', [])).split('\n').pop()!;
    const before = await podman('image', 'inspect', '--format', '{{.Id}}', IMAGE).catch(() => '');
    // --format docker: OCI images have no HEALTHCHECK.
    await shown('podman', ['--runtime', 'runc', 'build', '--network=host', '--format', 'docker', '--build-arg', `BASE=${base}`, '-t', IMAGE, '.']);
    // The image this build replaced, if nothing else holds it (its build stage stays as the layer cache).
    const after = await podman('image', 'inspect', '--format', '{{.Id}}', IMAGE);
    if (before !== '' && before !== after) await podman('image', 'rm', before).catch(() => undefined);
    upstream = await TestUpstream.start();
  }, 20 * 60_000);

  afterAll(async () => {
    for (const name of names) await podman('rm', '--force', '--time', '0', name).catch(() => undefined);
    await upstream?.close();
  });

  it("carries the Dockerfile's user, entrypoint, HEALTHCHECK and ports, and production dependencies only", async () => {
    const [image] = JSON.parse(await podman('image', 'inspect', IMAGE));
    const last = (op: string) => instructions(DOCKERFILE).filter(([o]) => o === op).pop()![1];
    expect(image.Config.User).toBe(last('USER'));
    expect(image.Config.Entrypoint).toEqual(JSON.parse(last('ENTRYPOINT')));
    expect(image.Config.Cmd).toEqual(JSON.parse(last('CMD')));
    // Podman keeps the docker-format HEALTHCHECK beside Config; Docker inside it.
    expect((image.Healthcheck ?? image.Config.Healthcheck).Test).toEqual(['CMD', ...healthcheck(DOCKERFILE)]);
    expect(Object.keys(image.Config.ExposedPorts).sort()).toEqual(['53/tcp', '53/udp']);
    const modules = await podman('run', '--rm', '--entrypoint', 'ls', IMAGE, 'node_modules');
    expect(modules.split('\n')).toContain('pino');
    expect(modules.split('\n')).not.toContain('typescript');
    expect(await podman('run', '--rm', '--entrypoint', 'node', IMAGE, '--version')).toMatch(/^v24\./);
  });

  it('serves DNS on a mounted /etc/aifence as a non-root user: blocked and forwarded names, the HEALTHCHECK, SIGTERM exit 0', async () => {
    const [port, admin] = [await freePort(), await freePort()];
    const etc = mkdtempSync(join(tmpdir(), 'aifence-etc-'));
    chmodSync(etc, 0o755);
    writeFileSync(join(etc, 'aifence.yaml'), stringify({ ...builtIn, listen: [`127.0.0.1:${port}`], admin: { listen: `127.0.0.1:${admin}` }, upstream: { ...builtIn.upstream, servers: [upstream.address] } }));
    const c = await Container.run('mounted', ['--network=host', '-v', `${etc}:/etc/aifence:ro`]);

    expect(await dig(port, 'chat.deepseek.com')).toMatchObject({ status: 'NXDOMAIN', answers: [] });
    expect((await dig(port, 'chat.deepseek.com', '+tcp')).status).toBe('NXDOMAIN');
    const forwarded = await dig(port, 'www.example.org');
    expect(forwarded.status).toBe('NOERROR');
    expect(forwarded.answers.join('\n')).toMatch(/www\.example\.org\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1/);
    expect(upstream.received.map((r) => r.name)).toContain('www.example.org');

    expect(await c.healthy()).toBe(true);
    // Non-root: the image's `node` user, 1000 (what the Kubernetes manifest's runAsUser names).
    expect(await c.ids()).toEqual({ uid: [1000, 1000, 1000, 1000], gid: [1000, 1000, 1000, 1000] });
    expect(await podman('exec', c.name, 'id', '-un')).toBe('node');

    const stopped = await c.stop(15);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000); // stopped by SIGTERM, not killed at the end of the grace period
    // (podman logs may give two lines of the same millisecond in either order)
    const logs = await c.logs();
    expect(logs).toContain('"signal":"SIGTERM","msg":"stopping: finishing queries in flight"');
    expect(logs).toContain('"msg":"stopped"');
    // UDP read and answered in batches: the addon built in the Dockerfile's native stage loaded.
    expect(logs).toContain('"io":"batched"');
  }, 60_000);

  it('serves its built-in config on port 53 in a network namespace of its own (docker run -p 53:53/udp -p 53:53/tcp)', async () => {
    // Docker lets a container's user bind ports below 1024; podman needs the sysctl the Dockerfile's header names.
    const c = await Container.run('builtin', ['--sysctl', 'net.ipv4.ip_unprivileged_port_start=53', '-p', '127.0.0.1::53/udp', '-p', '127.0.0.1::53/tcp']);
    expect(await c.healthy()).toBe(true);
    expect((await dig(await c.published(53, 'udp'), 'chat.deepseek.com')).status).toBe('NXDOMAIN');
    expect((await dig(await c.published(53, 'tcp'), 'chat.deepseek.com', '+tcp')).status).toBe('NXDOMAIN');
    expect((await c.stop(15)).code).toBe(0);
  }, 60_000);

  it('runs with the Kubernetes manifests\' settings: their user, read-only root, ports, probes, config and data volume', async () => {
    const docs = readdirSync('deploy/kubernetes').flatMap((f) => parseAllDocuments(readFileSync(join('deploy/kubernetes', f), 'utf8')).map((d) => d.toJS()));
    const workload = docs.find((d) => d.kind === 'StatefulSet');
    const pod = workload.spec.template.spec;
    const container = pod.containers[0];
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    const mountOf = (volume: string) => container.volumeMounts.find((m: { name: string }) => m.name === volume);

    // The ConfigMap as the kubelet mounts it: a read-only directory of its keys, unchanged.
    const configVolume = pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap?.name === configMap.metadata.name);
    const etc = mkdtempSync(join(tmpdir(), 'aifence-configmap-'));
    chmodSync(etc, 0o755);
    for (const [key, text] of Object.entries(configMap.data)) writeFileSync(join(etc, key), text as string);
    // The claim's volume: owned by fsGroup, group-writable, the group added to the process (as the kubelet does).
    const { runAsUser, runAsGroup, fsGroup } = pod.securityContext;
    const claim = workload.spec.volumeClaimTemplates[0].metadata.name;
    const data = volume(0, fsGroup, 0o2770);
    const ports = container.ports.flatMap((p: { containerPort: number; protocol: string }) => ['-p', `127.0.0.1::${p.containerPort}/${p.protocol.toLowerCase()}`]);
    const token = randomBytes(16).toString('hex');
    const limit = /^(\d+)Mi$/.exec(container.resources.limits.memory)![1];

    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    const c = await Container.run(
      'kubernetes',
      [
        '--user', `${runAsUser}:${runAsGroup}`, '--group-add', String(fsGroup),
        '--read-only', '--read-only-tmpfs=false',
        ...container.securityContext.capabilities.drop.flatMap((cap: string) => ['--cap-drop', cap]),
        '--security-opt', 'no-new-privileges',
        '--memory', `${limit}m`,
        '-e', `AIFENCE_ADMIN_TOKEN=${token}`,
        '-v', `${etc}:${mountOf(configVolume.name).mountPath}:ro`,
        '-v', `${data}:${mountOf(claim).mountPath}`,
        ...ports,
      ],
      container.args,
    );

    // The probes, by the manifest's paths and named port.
    const portNamed = (name: string) => container.ports.find((p: { name: string }) => p.name === name);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const { path, port } = container[probe].httpGet;
      const res = await fetch(`http://127.0.0.1:${await c.published(portNamed(port).containerPort, 'tcp')}${path}`);
      expect(res.status, `${probe} ${path}`).toBe(200);
    }
    // DNS on the ports the Service sends to (its upstreams are out of reach here: a blocked name is answered locally).
    const service = docs.find((d) => d.kind === 'Service');
    for (const p of service.spec.ports) {
      const target = portNamed(p.targetPort);
      const answer = await dig(await c.published(target.containerPort, target.protocol), 'chat.deepseek.com', ...(target.protocol === 'TCP' ? ['+tcp'] : []));
      expect(answer.status, p.name).toBe('NXDOMAIN');
    }
    // The user the manifest names is the image's, and the query log lands on the pod's own volume.
    expect((await c.ids()).uid).toEqual([runAsUser, runAsUser, runAsUser, runAsUser]);
    expect(runAsUser).toBe(Number(await podman('run', '--rm', '--entrypoint', 'id', IMAGE, '-u')));
    const config = parse(configMap.data['aifence.yaml']);
    const log = join(data, config.queryLog.path.slice(mountOf(claim).mountPath.length));
    expect(await fileContaining(log, 'chat.deepseek.com')).toContain('"verdict":"blocked"');

    const stopped = await c.stop(workload.spec.template.spec.terminationGracePeriodSeconds);
    expect(stopped.code).toBe(0);
  }, 60_000);

  it("runs with deploy/compose.yaml's settings: host network, root with NET_BIND_SERVICE only, read-only, its config and volume, the HEALTHCHECK", async () => {
    const compose = parse(readFileSync('deploy/compose.yaml', 'utf8'));
    const service = compose.services.aifence;
    expect(service.image).toMatch(/^aifence:/);
    expect(service.network_mode).toBe('host');
    const mounts: string[][] = service.volumes.map((v: string) => v.split(':'));
    const [source, target] = mounts.find(([, t]) => t.endsWith('.yaml'))!;
    // The HEALTHCHECK reads the config at the path the compose file mounts it on.
    expect(healthcheck(DOCKERFILE)).toContain(target);

    // Its config, on ports free here (a low one: binding it needs the capability compose grants) and the test upstream.
    const config = parse(readFileSync(join('deploy', source), 'utf8'));
    const [port, admin] = [await lowPort(), await freePort()];
    const file = join(mkdtempSync(join(tmpdir(), 'aifence-compose-')), 'aifence.yaml');
    writeFileSync(file, stringify({ ...config, listen: [`127.0.0.1:${port}`], admin: { listen: `127.0.0.1:${admin}` }, upstream: { ...config.upstream, servers: [upstream.address] } }));
    chmodSync(dirname(file), 0o755);
    const [named, dataDir] = mounts.find(([s]) => s in compose.volumes)!;
    expect(dataDir).toBe(config.dataDir);
    const data = volume(0, 0, 0o755); // a named volume: root's, as compose makes it

    const c = await Container.run('compose', [
      '--network=host',
      '--user', String(service.user),
      ...service.cap_drop.flatMap((cap: string) => ['--cap-drop', cap]),
      ...service.cap_add.flatMap((cap: string) => ['--cap-add', cap]),
      ...service.security_opt.flatMap((opt: string) => ['--security-opt', opt]),
      ...(service.read_only ? ['--read-only', '--read-only-tmpfs=false'] : []),
      '--memory', service.mem_limit,
      '-v', `${file}:${target}:ro`,
      '-v', `${data}:${dataDir}`,
    ]);
    expect(named).toBe('aifence-data');

    expect((await dig(port, 'chat.deepseek.com')).status).toBe('NXDOMAIN');
    expect((await dig(port, 'www.example.org')).status).toBe('NOERROR');
    expect(await c.healthy()).toBe(true);
    // Prometheus's target in the same compose file: the admin address, here moved to a free port.
    expect((await fetch(`http://127.0.0.1:${admin}/metrics`)).status).toBe(200);
    expect(await fileContaining(join(data, config.queryLog.path.slice(dataDir.length)), 'chat.deepseek.com')).toContain('"verdict":"blocked"');
    // Root, but with the one capability only.
    const caps = readFileSync(`/proc/${(await c.state()).Pid}/status`, 'utf8');
    expect(BigInt(`0x${/^CapEff:\s+(\w+)$/m.exec(caps)![1]}`)).toBe(1n << 10n); // CAP_NET_BIND_SERVICE

    const stopped = await c.stop(Number.parseInt(service.stop_grace_period, 10));
    expect(stopped.code).toBe(0);
  }, 60_000);
});
