/**
 * config/kubernetes.yaml is documentation that has to work: every document parses, the
 * embedded wstap config is valid, the probes, ports, image arguments and grace period agree
 * with the Dockerfile and with what wstap does on SIGTERM, and the collector it deploys is the
 * one config/otel-collector.yaml describes.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { checkConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';

const ROOT = new URL('../../../', import.meta.url);
const read = (path: string): string => readFileSync(fileURLToPath(new URL(path, ROOT)), 'utf8');

interface Port {
  name?: string;
  port?: number;
  containerPort?: number;
  targetPort?: number | string;
  protocol?: string;
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: Port[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: unknown;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    type?: string;
    sessionAffinity?: string;
    replicas?: number;
    selector?: Record<string, unknown>;
    ports?: Port[];
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
        volumes?: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
  };
}

const TEXT = read('config/kubernetes.yaml');
const docs = parseAllDocuments(TEXT);
const yamlErrors = docs.flatMap((d) => d.errors.map((e) => e.message));
const manifests = docs.map((d) => d.toJS() as Manifest);

function get(kind: string, name: string): Manifest {
  const m = manifests.find((x) => x.kind === kind && x.metadata.name === name);
  if (m === undefined) throw new Error(`no ${kind} ${name} in config/kubernetes.yaml`);
  return m;
}
function podSpec(name: string) {
  const spec = get('Deployment', name).spec?.template?.spec;
  if (spec === undefined) throw new Error(`Deployment ${name} has no pod template`);
  return spec;
}
function container(name: string): Container {
  const c = podSpec(name).containers[0];
  if (c === undefined) throw new Error(`Deployment ${name} has no container`);
  return c;
}
/** The normalised config holds durations in milliseconds. */
const seconds = (ms: number): number => ms / 1000;

const wstapText = get('ConfigMap', 'wstap-config').data?.['wstap.yaml'] ?? '';
const checked = checkConfigText(wstapText, { env: {} });
const wstap = checked.config as Config;

describe('config/kubernetes.yaml', () => {
  it('holds the proxy, its Services and the collector, and nothing else', () => {
    expect(yamlErrors).toEqual([]);
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      'ConfigMap/wstap-config',
      'Deployment/wstap',
      'Service/wstap',
      'Service/wstap-admin',
      'ConfigMap/otel-collector-config',
      'Deployment/otel-collector',
      'Service/otel-collector',
    ]);
    for (const m of manifests) expect(m.apiVersion).toBe(m.kind === 'Deployment' ? 'apps/v1' : 'v1');
  });

  it('embeds a valid wstap config: listener and admin on every interface, a sticky pool of in-cluster servers', () => {
    expect(checked.problems).toEqual([]);
    expect(wstap.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(wstap.admin).toEqual({ enabled: true, host: '0.0.0.0', port: 9090 });
    const pools = Object.values(wstap.backends);
    expect(pools).toHaveLength(1);
    const pool = pools[0]!;
    expect(pool.affinity).toEqual({ key: { kind: 'cookie', name: 'sid' } });
    // Affinity needs one entry per backend instance, not one Service spreading over them all.
    expect(pool.servers.length).toBeGreaterThan(1);
    for (const s of pool.servers) expect(s.url.hostname).toMatch(/^[a-z0-9-]+\.[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local$/);
    expect(pool.health).toBeDefined();
    expect(wstap.heartbeat.interval).toBeGreaterThan(0);
  });

  it('runs the image as the Dockerfile does, with the ConfigMap where the CMD looks', () => {
    const dockerfile = read('Dockerfile');
    const cmd = JSON.parse(/^CMD\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1] ?? 'null') as string[];
    const c = container('wstap');
    expect(c.image).toBe('wstap:latest');
    expect(c.command, 'keeps the image ENTRYPOINT').toBeUndefined();
    expect(c.args).toEqual(cmd);
    const configPath = cmd[cmd.indexOf('--config') + 1]!;
    const mount = c.volumeMounts?.find((v) => configPath.startsWith(`${v.mountPath}/`));
    expect(mount?.mountPath).toBe('/etc/wstap');
    expect(podSpec('wstap').volumes?.find((v) => v.name === mount?.name)?.configMap?.name).toBe('wstap-config');
    expect(configPath.slice(mount!.mountPath.length + 1)).toBe('wstap.yaml');
    expect(get('Deployment', 'wstap').spec?.replicas).toBe(3);
  });

  it('exposes the listener and the admin port the config names, and probes the admin endpoints', () => {
    const c = container('wstap');
    expect(c.ports?.map((p) => p.containerPort).sort()).toEqual([wstap.listen.port, wstap.admin.port].sort());
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 9090 });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 9090 });
    expect(wstap.admin.port).toBe(9090);
    expect(c.lifecycle, 'no preStop: wstap drains on SIGTERM').toBeUndefined();
    const annotations = get('Deployment', 'wstap').spec?.template?.metadata?.annotations;
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics' });
  });

  it('gives the drain, the close handshake and the final metrics flush time to finish before SIGKILL', () => {
    const grace = podSpec('wstap').terminationGracePeriodSeconds ?? 30;
    expect(seconds(wstap.timeouts.drain)).toBeLessThan(grace);
    // After the drain, src/proxy/server.ts waits up to timeouts.close + 100 ms for close
    // handshakes and up to 1 s for handshakes in flight; src/app.ts then flushes metrics for
    // up to 5 s.
    const worstCase = seconds(wstap.timeouts.drain) + seconds(wstap.timeouts.close + 100) + 1 + 5;
    expect(worstCase).toBeLessThanOrEqual(grace);
  });

  it('runs unprivileged, on a read-only root filesystem, with pod and namespace as resource attributes', () => {
    for (const name of ['wstap', 'otel-collector']) {
      expect(podSpec(name).securityContext?.runAsNonRoot, name).toBe(true);
      expect(container(name).securityContext, name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    }
    // The image's USER is `node`, a name: runAsNonRoot can only check a numeric uid.
    expect(read('Dockerfile')).toMatch(/^USER node$/m);
    expect(podSpec('wstap').securityContext?.runAsUser).toBe(1000);

    const env = new Map((container('wstap').env ?? []).map((e) => [e.name, e]));
    expect(env.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    const attrs = env.get('OTEL_RESOURCE_ATTRIBUTES')?.value ?? '';
    expect(attrs.split(',').sort()).toEqual(['k8s.namespace.name=$(POD_NAMESPACE)', 'k8s.pod.name=$(POD_NAME)']);
    // Each process keeps its own random service.instance.id.
    expect(attrs).not.toContain('service.instance.id');
  });

  it('sizes memory for limits.max_connections at the measured cost per session', () => {
    const { requests, limits } = container('wstap').resources ?? {};
    expect(requests?.cpu, 'one process uses one core').toBe('1');
    const mib = (q: string | undefined): number => {
      const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
      if (m === null) throw new Error(`unexpected memory quantity ${q}`);
      return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
    };
    expect(mib(requests?.memory)).toBeLessThanOrEqual(mib(limits?.memory));
    // README "Scaling out": ~80 MB at start, ~6 KB per idle session; 10 KB each leaves room
    // for the socket buffers of busy ones.
    const max = wstap.limits.max_connections;
    expect(max).toBeGreaterThan(0);
    expect(80 + (max * 10) / 1024).toBeLessThan(mib(limits?.memory));
  });

  it('puts the proxy behind an L4 LoadBalancer on port 80 and keeps the admin port in the cluster', () => {
    const proxy = get('Service', 'wstap').spec!;
    expect(proxy.type).toBe('LoadBalancer');
    expect(proxy.sessionAffinity ?? 'None').toBe('None');
    expect(proxy.ports).toEqual([{ name: 'ws', protocol: 'TCP', port: 80, targetPort: 8080 }]);
    const admin = get('Service', 'wstap-admin').spec!;
    expect(admin.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(admin.ports?.map((p) => [p.port, p.targetPort])).toEqual([[9090, 9090]]);
    for (const s of [proxy, admin]) expect(s.selector).toEqual(get('Deployment', 'wstap').spec?.selector?.['matchLabels']);
  });

  it('sends OTLP to the collector Service, which runs config/otel-collector.yaml', () => {
    const endpoint = new URL(wstap.telemetry.otlp?.endpoint ?? '');
    const service = get('Service', 'otel-collector');
    expect(endpoint.hostname).toBe(service.metadata.name);
    expect(endpoint.pathname).toBe('/v1/metrics');
    expect(service.spec?.ports?.map((p) => p.port).sort()).toEqual([4318, 8889]);
    expect(Number(endpoint.port)).toBe(4318);

    interface Collector {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      processors: unknown;
      exporters: { prometheus: { endpoint: string } } & Record<string, unknown>;
      extensions?: { health_check?: { endpoint: string } };
      service: { extensions?: string[]; pipelines: unknown };
    }
    const embedded = parseYaml(get('ConfigMap', 'otel-collector-config').data?.['config.yaml'] ?? '') as Collector;
    const shipped = parseYaml(read('config/otel-collector.yaml')) as Collector;
    expect(embedded.receivers).toEqual(shipped.receivers);
    expect(embedded.processors).toEqual(shipped.processors);
    expect(embedded.exporters).toEqual(shipped.exporters);
    expect(embedded.service.pipelines).toEqual(shipped.service.pipelines);
    expect(embedded.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(embedded.exporters.prometheus.endpoint).toBe('0.0.0.0:8889');

    const c = container('otel-collector');
    expect(c.image).toMatch(/^otel\/opentelemetry-collector:\d+\.\d+\.\d+$/);
    expect(c.ports?.map((p) => p.containerPort)).toEqual(expect.arrayContaining([4318, 8889]));
    // The kubelet probes the health_check extension, which must listen beyond localhost.
    expect(embedded.service.extensions).toEqual(['health_check']);
    const health = Number(embedded.extensions?.health_check?.endpoint.split(':').pop());
    expect(c.readinessProbe?.httpGet?.port).toBe(health);
    expect(c.livenessProbe?.httpGet?.port).toBe(health);
    expect(embedded.extensions?.health_check?.endpoint).toMatch(/^0\.0\.0\.0:/);
    const configPath = /^--config=(.+)$/.exec(c.args?.[0] ?? '')?.[1] ?? '';
    const mount = c.volumeMounts?.find((v) => configPath.startsWith(`${v.mountPath}/`));
    expect(podSpec('otel-collector').volumes?.find((v) => v.name === mount?.name)?.configMap?.name).toBe('otel-collector-config');
    expect(configPath.slice(mount!.mountPath.length + 1)).toBe('config.yaml');
  });
});
