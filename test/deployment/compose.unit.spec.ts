// Keeps the deployment files honest against the code: docker-compose.yml must only set settings
// the services (and the dashboard) read, set them to values they accept, and wire ports,
// credentials, volumes and start order consistently; the Dockerfile must build what compose runs.
// And it keeps them hardened (issue 14): no default passwords, only what agents need published
// beyond this host, limits, rotated logs, read-only containers without capabilities, pinned images.
// No Docker engine needed: the files are parsed, interpolated the way Compose does, and the
// services' own config schemas judge the result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { BaseConfig, isSecretSetting, loadConfig } from '@herald/platform';
import { AgentPresenceConfig } from '../../apps/agent-presence/src/config';
import { ComponentDownloadConfig } from '../../apps/component-download/src/config';
import { DashboardConfig } from '../../apps/dashboard/src/config';
import { NotificationDispatchConfig } from '../../apps/notification-dispatch/src/config';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Each Herald service, the schema its main.ts loads its configuration with. */
const heraldServices = {
  'component-download': { schema: ComponentDownloadConfig, schemaName: 'ComponentDownloadConfig' },
  'notification-dispatch': { schema: NotificationDispatchConfig, schemaName: 'NotificationDispatchConfig' },
  'agent-presence': { schema: AgentPresenceConfig, schemaName: 'AgentPresenceConfig' },
} satisfies Record<string, { schema: z.ZodObject; schemaName: string }>;
type HeraldService = keyof typeof heraldServices;
const heraldNames = Object.keys(heraldServices) as HeraldService[];
const infrastructure = ['postgres', 'rabbitmq'] as const;
/** The admin dashboard: no database or broker, only the services' URLs. */
const dashboardName = 'dashboard';
/** Which of the dashboard's settings points at which service. */
const dashboardUpstreams = {
  COMPONENT_DOWNLOAD_URL: 'component-download',
  NOTIFICATION_DISPATCH_URL: 'notification-dispatch',
  AGENT_PRESENCE_URL: 'agent-presence',
} as const satisfies Partial<Record<keyof DashboardConfig, HeraldService>>;

// ---- Compose file model and interpolation ----------------------------------------------------

interface ComposeService {
  image?: string;
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  privileged?: boolean;
  security_opt?: string[];
  tmpfs?: string | string[];
  logging?: { driver?: string; options?: Record<string, string> };
  deploy?: { resources?: { limits?: { cpus?: string | number; memory?: string; pids?: number } } };
  build?: unknown;
  command?: string | string[];
  hostname?: string;
  restart?: string;
  stop_grace_period?: string;
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');

/** Compose's variable substitution: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}. */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      if (match === '$$') return '$';
      const name = braced ?? bare!;
      const v = vars[name];
      switch (op) {
        case ':-':
          return v === undefined || v === '' ? arg! : v;
        case '-':
          return v === undefined ? arg! : v;
        case ':?':
        case '?':
          if (v === undefined || (op === ':?' && v === '')) throw new Error(`${name} must be set: ${arg}`);
          return v;
        default:
          return v ?? '';
      }
    },
  );
}

function interpolateDeep(node: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateDeep(n, vars));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateDeep(v, vars)]));
  }
  return node;
}

/**
 * The variables compose cannot start without (no default passwords): what scripts/compose-env
 * writes into .env. Every other variable keeps its default unless a test sets it.
 */
const requiredSecrets = {
  HERALD_POSTGRES_PASSWORD: 'pg-Generated-1',
  HERALD_RABBITMQ_PASSWORD: 'mq-Generated-2',
  HERALD_AGENT_ENROLMENT_TOKEN: 'enrol-Generated-0123456789',
  HERALD_SIM_SECRET_SEED: 'seed-Generated-4',
};

/** The file as `docker compose config` would see it with these shell/.env variables. */
function loadCompose(vars: Record<string, string | undefined> = requiredSecrets): ComposeFile {
  return interpolateDeep(parse(composeText, { merge: true }), vars) as ComposeFile;
}

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const i = entry.indexOf('=');
        return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Published ports as { host, container } numbers (short "[ip:]host:container[/proto]" or long syntax). */
function portsOf(service: ComposeService): { host: number | undefined; container: number }[] {
  return publishedOf(service).map(({ host, container }) => ({ host, container }));
}

/** Published ports with the host address they are bound to (undefined: every interface). */
function publishedOf(service: ComposeService): { ip: string | undefined; host: number | undefined; container: number }[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') return { ip: (p as { host_ip?: string }).host_ip, host: p.published === undefined ? undefined : Number(p.published), container: p.target };
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    const container = Number(parts.at(-1));
    return { ip: parts.length > 2 ? parts.slice(0, -2).join(':') : undefined, host: parts.length > 1 ? Number(parts.at(-2)) : undefined, container };
  });
}

function dependsOn(service: ComposeService): Record<string, string | undefined> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, undefined]));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v?.condition]));
}

/** Named-volume mounts as { source, target }; bind mounts and anonymous volumes are left out. */
function namedVolumesOf(service: ComposeService, file: ComposeFile): { source: string; target: string }[] {
  const declared = Object.keys(file.volumes ?? {});
  return (service.volumes ?? [])
    .map((v) => {
      if (typeof v === 'object') return { source: v.source ?? '', target: v.target, type: v.type ?? 'volume' };
      const [source, target] = v.split(':');
      return target === undefined ? { source: '', target: source, type: 'volume' } : { source, target, type: 'volume' };
    })
    .filter((v) => v.type === 'volume' && declared.includes(v.source))
    .map(({ source, target }) => ({ source, target }));
}

function healthcheckCommand(service: ComposeService): string {
  const test = service.healthcheck?.test;
  if (test === undefined) return '';
  return Array.isArray(test) ? test.slice(1).join(' ') : test;
}

/** Compose duration ("30s", "1m30s", "500ms") in milliseconds. */
function durationMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  expect(parts.map((p) => p[0]).join('')).toBe(value);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit], 0);
}

/** A size as Compose and rabbitmq.conf write it ("1g", "512m", "640MiB", "1GB") in bytes. */
function bytesOf(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b?)$/i.exec(value.trim());
  expect(m).not.toBeNull();
  const [, n, unit, suffix] = m!;
  // Compose's k/m/g and RabbitMQ's KiB/MiB/GiB are powers of 1024; RabbitMQ's KB/MB/GB of 1000.
  const base = suffix!.toLowerCase() === 'b' ? 1000 : 1024;
  return Number(n) * base ** ['', 'k', 'm', 'g'].indexOf(unit!.toLowerCase());
}

/** deploy/rabbitmq/rabbitmq.conf as key = value pairs (comments left out). */
function brokerConfig(): Record<string, string> {
  return Object.fromEntries(
    read('deploy/rabbitmq/rabbitmq.conf')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
  );
}

const shapeOf = (schema: z.ZodObject) => schema.shape as Record<string, z.ZodType>;
/** The value the service uses when the variable is not set (undefined for optional settings). */
const defaultOf = (field: z.ZodType) => field.safeParse(undefined);
/** The one *_PORT setting of a service: the port its HTTP server (and /health) listens on. */
function portKeyOf(schema: z.ZodObject): string {
  const keys = Object.keys(shapeOf(schema)).filter((k) => k.endsWith('_PORT'));
  expect(keys).toHaveLength(1);
  return keys[0];
}

/** Settings compose must set: required ones, the port, and defaults that only suit a developer machine. */
function mustSetKeysOf(schema: z.ZodObject): string[] {
  return Object.entries(shapeOf(schema))
    .filter(([key, field]) => {
      const fallback = defaultOf(field);
      if (!fallback.success) return true; // required, no default
      if (key.endsWith('_PORT')) return true; // must agree with ports: and the health check
      const v = fallback.data;
      // A loopback URL, a relative path, or listening on loopback only (HTTP_BIND_ADDRESS).
      return typeof v === 'string' && (/\/\/([^/@]*@)?(127\.0\.0\.1|localhost)\b/.test(v) || /^(127\.0\.0\.1|::1|localhost)$/.test(v) || v.startsWith('./') || v.startsWith('../'));
    })
    .map(([key]) => key);
}

function commandOf(service: ComposeService): string[] {
  return Array.isArray(service.command) ? service.command : (service.command ?? '').split(/\s+/);
}

// Variables ops may set, with values unlike the defaults, to check the wiring holds either way.
const overrides = {
  HERALD_ADMIN_ADDRESS: '10.1.2.3',
  PUBLIC_BASE_URL: 'https://herald.example.com:8443',
  UPSTREAM_MANIFEST_URL: 'https://updates.example.com/manifest.json',
  UPSTREAM_PUBLIC_KEY: 'Y2FmZWJhYmVjYWZlYmFiZWNhZmViYWJlY2FmZWJhYmU=',
  HERALD_POSTGRES_PASSWORD: 'pg-Secret.1',
  HERALD_RABBITMQ_PASSWORD: 'mq-Secret.2',
  HERALD_AGENT_ENROLMENT_TOKEN: 'enrol-Secret-0123456789',
  HERALD_SIM_SECRET_SEED: 'seed-Secret.4',
  LOG_LEVEL: 'debug',
  ADMIN_TOKENS: 'alice:admin-Secret-0123456789,ci:ci-Secret-0123456789',
  READ_TOKENS: 'viewer:read-Secret-0123456789',
};

// ---- docker-compose.yml --------------------------------------------------------------------

describe('docker-compose.yml', () => {
  const compose = loadCompose();

  it('runs RabbitMQ, PostgreSQL, the three Herald services and the dashboard by default (optional extras need a profile)', () => {
    const expected = [...infrastructure, ...heraldNames, dashboardName];
    for (const name of expected) expect(Object.keys(compose.services)).toContain(name);
    const byDefault = Object.entries(compose.services)
      .filter(([, s]) => !s.profiles?.length)
      .map(([name]) => name);
    expect(byDefault.sort()).toEqual(expected.sort());
  });

  it('writes every ${VAR} with a default, so an unset variable never silently empties a setting', () => {
    const references = [...composeText.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]);
    expect(references.length).toBeGreaterThan(0);
    for (const ref of references) expect(ref).toMatch(/^[A-Za-z_][A-Za-z0-9_]*(:-|:\?)/);
  });

  it('gives every service a health check and restarts it unless stopped', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect({ name, test: healthcheckCommand(service) }).toEqual({ name, test: expect.stringMatching(/\S/) });
      expect(service.healthcheck?.disable).not.toBe(true);
      expect({ name, restart: service.restart }).toEqual({ name, restart: 'unless-stopped' });
    }
    expect(healthcheckCommand(compose.services.rabbitmq)).toMatch(/^rabbitmq-diagnostics /);
    expect(healthcheckCommand(compose.services.postgres)).toMatch(/^pg_isready /);
  });

  it('runs a supported RabbitMQ series, 4.x (quorum queues; nothing Herald declares was removed in 4.x), with a fixed host name, so its data volume survives re-creation', () => {
    const rabbit = compose.services.rabbitmq;
    const [major] = (rabbit.image ?? '').replace(/^rabbitmq:/, '').split(/[.-]/).map(Number);
    // 3.x is end of life: 3.13 was the last, its community support ended in 2024.
    expect(major).toBeGreaterThanOrEqual(4);
    expect(rabbit.hostname).toBeTruthy();
    expect(namedVolumesOf(rabbit, compose)).toContainEqual({ source: expect.any(String), target: '/var/lib/rabbitmq' });
    expect(portsOf(rabbit)).toContainEqual({ host: 5672, container: 5672 });
  });

  it('keeps PostgreSQL data on a named volume and probes it as the role the services use', () => {
    const pg = compose.services.postgres;
    expect(pg.image).toMatch(/^postgres:1[5-9]/);
    expect(namedVolumesOf(pg, compose)).toContainEqual({ source: expect.any(String), target: '/var/lib/postgresql/data' });
    expect(healthcheckCommand(pg)).toContain(`-U ${environmentOf(pg).POSTGRES_USER}`);
  });

  describe('hardening (issue 14)', () => {
    const services = Object.entries(compose.services);

    it('has no default password: a missing one stops compose with a message saying how to make it', () => {
      for (const name of Object.keys(requiredSecrets)) {
        const references = [...composeText.matchAll(new RegExp(`\\$\\{${name}(\\W[^}]*)?\\}`, 'g'))].map((m) => m[1] ?? '');
        expect(references.length).toBeGreaterThan(0);
        for (const ref of references) expect({ name, ref }).toEqual({ name, ref: expect.stringMatching(/^:\?.*scripts\/compose-env/) });
        const { [name]: _missing, ...rest } = requiredSecrets as Record<string, string>;
        expect(() => loadCompose(rest)).toThrow(new RegExp(`${name} must be set: no default (password|token|seed)`));
        expect(() => loadCompose({ ...rest, [name]: '' })).toThrow(`${name} must be set`);
      }
    });

    it('gives no secret-named variable a default value', () => {
      const references = [...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|:\?)([^}]*)\}/g)];
      const secretDefaults = references.filter(([, name, op, arg]) => isSecretSetting(name!) && op === ':-' && arg !== '').map(([ref]) => ref);
      expect(secretDefaults).toEqual([]);
      // And the infrastructure takes its passwords from those variables, not from a literal.
      expect(environmentOf(compose.services.postgres).POSTGRES_PASSWORD).toBe(requiredSecrets.HERALD_POSTGRES_PASSWORD);
      expect(environmentOf(compose.services.rabbitmq).RABBITMQ_DEFAULT_PASS).toBe(requiredSecrets.HERALD_RABBITMQ_PASSWORD);
    });

    it.each([
      ['by default', requiredSecrets, '127.0.0.1'],
      ['with HERALD_ADMIN_ADDRESS', overrides, overrides.HERALD_ADMIN_ADDRESS],
    ])('publishes beyond this host only what agents need, AMQP and downloads (%s)', (_label, vars: Record<string, string>, adminAddress) => {
      const file = loadCompose(vars);
      /** What agents connect to: AMQP (and AMQP over TLS) and component-download's downloads. */
      const forAgents = new Set(['rabbitmq:5672', 'rabbitmq:5671', 'component-download:3001']);
      /** The management UI: this host only, whatever HERALD_ADMIN_ADDRESS says. */
      const hostOnly = new Set(['rabbitmq:15672']);
      const published = Object.entries(file.services).flatMap(([name, service]) => publishedOf(service).map((p) => ({ port: `${name}:${p.container}`, ip: p.ip })));
      expect(published.map((p) => p.port)).toEqual(expect.arrayContaining(['rabbitmq:5672', 'component-download:3001', 'notification-dispatch:3002', 'agent-presence:3003', 'dashboard:3000']));
      for (const { port, ip } of published) {
        const expected = forAgents.has(port) ? undefined : hostOnly.has(port) ? '127.0.0.1' : adminAddress;
        expect({ port, ip }).toEqual({ port, ip: expected });
      }
    });

    it('has every Herald service and the dashboard listen on every interface inside its container (the published ports decide)', () => {
      for (const name of [...heraldNames, dashboardName]) {
        expect({ name, bind: environmentOf(compose.services[name]).HTTP_BIND_ADDRESS }).toEqual({ name, bind: '0.0.0.0' });
      }
    });

    it('limits the memory, CPU and processes of every container', () => {
      for (const [name, service] of services) {
        const limits = service.deploy?.resources?.limits;
        expect({ name, memory: limits?.memory, cpus: Number(limits?.cpus), pids: limits?.pids }).toEqual({
          name,
          memory: expect.stringMatching(/^\d+(\.\d+)?[kmg]b?$/i),
          cpus: expect.any(Number),
          pids: expect.any(Number),
        });
        expect(Number(limits?.cpus)).toBeGreaterThan(0);
      }
    });

    it("keeps RabbitMQ's memory alarm below its container's memory limit", () => {
      const limit = bytesOf(compose.services.rabbitmq.deploy!.resources!.limits!.memory!);
      const watermark = brokerConfig()['vm_memory_high_watermark.absolute'];
      expect(watermark).toBeDefined();
      expect(bytesOf(watermark!)).toBeLessThan(limit * 0.8);
    });

    it('rotates every container log (json-file with max-size and max-file)', () => {
      for (const [name, service] of services) {
        expect({ name, logging: service.logging }).toEqual({
          name,
          logging: { driver: 'json-file', options: { 'max-size': expect.stringMatching(/^\d+[kmg]$/), 'max-file': expect.stringMatching(/^\d+$/) } },
        });
      }
    });

    it('runs every container read-only, without capabilities or privilege gain, with a small /tmp', () => {
      for (const [name, service] of services) {
        expect({ name, read_only: service.read_only, cap_drop: service.cap_drop, cap_add: service.cap_add, privileged: service.privileged }).toEqual({
          name,
          read_only: true,
          cap_drop: ['ALL'],
          cap_add: undefined,
          privileged: undefined,
        });
        expect({ name, security_opt: service.security_opt }).toEqual({ name, security_opt: expect.arrayContaining(['no-new-privileges:true']) });
        const tmpfs = [service.tmpfs ?? []].flat().map((t) => t.split(':')[0]);
        expect({ name, tmpfs }).toEqual({ name, tmpfs: expect.arrayContaining(['/tmp']) });
      }
      // PostgreSQL's socket and lock file.
      expect([compose.services.postgres.tmpfs ?? []].flat().map((t) => t.split(':')[0])).toContain('/var/run/postgresql');
    });

    it('starts RabbitMQ and PostgreSQL as their images\' own users (no root step-down, which cap_drop: ALL would forbid)', () => {
      expect(compose.services.rabbitmq.user).toBe('rabbitmq');
      expect(compose.services.postgres.user).toBe('postgres');
      // Herald's image runs as `node` (the Dockerfile's USER).
      for (const name of [...heraldNames, dashboardName]) expect(compose.services[name].user).toBeUndefined();
    });

    it('pins every image to a release: PostgreSQL 15.x, RabbitMQ x.y.z, Herald its package.json version', () => {
      const version = (JSON.parse(read('package.json')) as { version: string }).version;
      for (const [name, service] of services) {
        const image = service.image ?? '';
        expect({ name, image }).toEqual({ name, image: expect.stringMatching(/^[a-z0-9./-]+:[^:]+$/) });
        expect(image).not.toMatch(/:latest$/);
        if (service.build !== undefined) expect({ name, image }).toEqual({ name, image: `herald:${version}` });
        // PostgreSQL numbers a release major.minor (15.20); anything else x.y.z (rabbitmq:4.3 is a series, not a release).
        else if (name === 'postgres') expect(image).toMatch(/^postgres:15\.\d+(-[a-z]+)?$/);
        else expect({ name, image }).toEqual({ name, image: expect.stringMatching(/:\d+\.\d+\.\d+(-[a-z0-9]+)?$/) });
      }
    });

    it('gives RabbitMQ the repository\'s broker settings, read-only, with max_message_size at most 1 MiB', () => {
      const mounts = (compose.services.rabbitmq.volumes ?? []).filter((v): v is string => typeof v === 'string');
      expect(mounts).toContain('./deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/90-herald.conf:ro');
      const size = Number(brokerConfig().max_message_size);
      expect(size).toBeGreaterThan(64 * 1024);
      expect(size).toBeLessThanOrEqual(1024 * 1024);
    });

    it("has the broker ask agent-presence about agents' logins and permissions, the services staying its own users", () => {
      const conf = brokerConfig();
      expect(conf['auth_backends.1']).toBe('internal');
      // The HTTP backend behind its cache; both plugins enabled, with the image's own.
      expect(conf['auth_backends.2']).toBe('cache');
      expect(conf['auth_cache.cached_backend']).toBe('http');
      expect(Number(conf['auth_cache.cache_ttl'])).toBeLessThanOrEqual(60_000);
      const mounts = (compose.services.rabbitmq.volumes ?? []).filter((v): v is string => typeof v === 'string');
      expect(mounts).toContain('./deploy/rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins:ro');
      const plugins = read('deploy/rabbitmq/enabled_plugins').replace(/[[\].\s]/g, '').split(',');
      expect(plugins).toEqual(expect.arrayContaining(['rabbitmq_management', 'rabbitmq_auth_backend_http', 'rabbitmq_auth_backend_cache']));
      // agent-presence, by its compose name on the port it listens on, at the routes it serves (POST, form-encoded).
      expect(conf['auth_http.http_method']).toBe('post');
      const presence = loadConfig(heraldServices['agent-presence'].schema, environmentOf(compose.services['agent-presence'])) as { AGENT_PRESENCE_PORT: number };
      for (const check of ['user', 'vhost', 'resource', 'topic']) {
        expect(conf[`auth_http.${check}_path`]).toBe(`http://agent-presence:${presence.AGENT_PRESENCE_PORT}/auth/${check}`);
      }
    });

    it('leaves the secrets file, deployment files and scripts out of the image build context', () => {
      const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
      for (const entry of ['.env', 'deploy', 'scripts']) expect(ignored).toContain(entry);
      expect(read('.gitignore').split('\n')).toContain('.env');
    });

    it('says in the README that Docker Compose v2 is needed, and starts with the secrets step', () => {
      const readme = read('README.md');
      expect(readme).toMatch(/Docker Compose v2/);
      const firstCommand = /```bash\n([^\n]*)/.exec(readme)?.[1] ?? '';
      expect(firstCommand).toMatch(/^scripts\/compose-env && docker compose up --build\b/);
    });
  });

  describe('scripts/compose-env', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-compose-env-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const run = (file: string) => spawnSync('sh', [path.join(root, 'scripts', 'compose-env')], { env: { PATH: process.env.PATH, HERALD_ENV_FILE: file }, encoding: 'utf8' });
    const parseEnv = (file: string) => Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

    it('writes random secrets compose and the services accept, readable by their owner only, and prints none of them', () => {
      const file = path.join(dir, 'fresh.env');
      const result = run(file);
      expect(result.status).toBe(0);
      const vars = parseEnv(file);
      expect(Object.keys(vars).sort()).toEqual(['ADMIN_TOKENS', 'HERALD_AGENT_ENROLMENT_TOKEN', 'HERALD_POSTGRES_PASSWORD', 'HERALD_RABBITMQ_PASSWORD', 'HERALD_SIM_SECRET_SEED']);
      for (const value of Object.values(vars)) {
        expect(value).toMatch(/^(admin:)?[A-Za-z0-9]{32}$/);
        expect(result.stdout + result.stderr).not.toContain(value.replace(/^admin:/, ''));
      }
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const file2 = loadCompose(vars);
      for (const name of heraldNames) expect(() => loadConfig(heraldServices[name].schema, environmentOf(file2.services[name]))).not.toThrow();
      expect(loadConfig(BaseConfig, { ADMIN_TOKENS: vars.ADMIN_TOKENS }).ADMIN_TOKENS.map((t) => t.name)).toEqual(['admin']);
      expect(parseEnv(path.join(dir, 'fresh.env'))).toEqual(vars);
      // Another run makes other secrets.
      run(path.join(dir, 'other.env'));
      expect(parseEnv(path.join(dir, 'other.env')).HERALD_POSTGRES_PASSWORD).not.toBe(vars.HERALD_POSTGRES_PASSWORD);
    });

    it('keeps every value already there (the data volumes hold the first passwords) and adds only what is missing', () => {
      const file = path.join(dir, 'kept.env');
      writeFileSync(file, 'HERALD_POSTGRES_PASSWORD=mine-1\nLOG_LEVEL=debug');
      expect(run(file).status).toBe(0);
      const first = parseEnv(file);
      expect(first).toEqual({
        HERALD_POSTGRES_PASSWORD: 'mine-1',
        LOG_LEVEL: 'debug',
        HERALD_RABBITMQ_PASSWORD: expect.any(String),
        ADMIN_TOKENS: expect.any(String),
        HERALD_AGENT_ENROLMENT_TOKEN: expect.any(String),
        HERALD_SIM_SECRET_SEED: expect.any(String),
      });
      expect(run(file).status).toBe(0);
      expect(parseEnv(file)).toEqual(first);
    });
  });

  describe.each(heraldNames)('%s', (name) => {
    const { schema, schemaName } = heraldServices[name];
    const shape = shapeOf(schema);
    const service = compose.services[name];
    const env = environmentOf(service);

    it('runs the built entry point of this service, which loads the schema checked here', () => {
      const command = commandOf(service);
      expect(command).toEqual(['node', `dist/apps/${name}/src/main.js`]);
      const source = `apps/${name}/src/main.ts`;
      expect(existsSync(path.join(root, source))).toBe(true);
      expect(read(source)).toMatch(new RegExp(`configSchema:\\s*${schemaName}\\b`));
    });

    it('is built from this repository (the Dockerfile)', () => {
      const build = service.build;
      const context = typeof build === 'string' ? build : (build as { context?: string } | undefined)?.context;
      expect(context).toBe('.');
    });

    it('sets only variables its config schema reads', () => {
      const unknown = Object.keys(env).filter((key) => !(key in shape));
      expect(unknown).toEqual([]);
    });

    it('sets every required setting, and every one whose default only suits a developer machine', () => {
      const mustSet = mustSetKeysOf(schema);
      expect(mustSet).toEqual(expect.arrayContaining(['DATABASE_URL', 'RABBITMQ_URL']));
      expect(Object.keys(env)).toEqual(expect.arrayContaining(mustSet));
    });

    it.each([
      ['defaults', requiredSecrets],
      ['ops overrides', overrides],
    ])('has settings the service accepts (%s)', (_label, vars: Record<string, string>) => {
      const resolved = environmentOf(loadCompose(vars).services[name]);
      expect(() => loadConfig(schema, resolved)).not.toThrow();
      // loadConfig treats empty as unset, like the service does; anything non-empty must parse raw.
      const nonEmpty = Object.fromEntries(Object.entries(resolved).filter(([, v]) => v !== ''));
      const parsed = schema.safeParse(nonEmpty);
      expect(parsed.error?.issues ?? []).toEqual([]);
    });

    it('publishes its HTTP port as set in its environment, and health-checks that port', () => {
      const port = Number(env[portKeyOf(schema)]);
      expect(portsOf(service)).toEqual([{ host: port, container: port }]);
      const check = healthcheckCommand(service);
      expect(check).toContain(`//127.0.0.1:${port}/health`);
    });

    it('waits for healthy PostgreSQL and RabbitMQ', () => {
      expect(dependsOn(service)).toEqual(expect.objectContaining({ postgres: 'service_healthy', rabbitmq: 'service_healthy' }));
    });

    it('outlasts SHUTDOWN_DRAIN_MS when stopped, so in-flight messages finish', () => {
      const drain = loadConfig(schema, env).SHUTDOWN_DRAIN_MS;
      expect(durationMs(service.stop_grace_period ?? '10s')).toBeGreaterThan(drain);
    });

    it.each([
      ['defaults', requiredSecrets],
      ['ops overrides', overrides],
    ])('reaches PostgreSQL and RabbitMQ with their service name and credentials (%s)', (_label, vars: Record<string, string>) => {
      const file = loadCompose(vars);
      const config = loadConfig(schema, environmentOf(file.services[name]));

      const pg = environmentOf(file.services.postgres);
      const db = new URL(config.DATABASE_URL);
      expect({ host: db.hostname, port: db.port || '5432', user: decodeURIComponent(db.username), password: decodeURIComponent(db.password), database: db.pathname.slice(1) }).toEqual({
        host: 'postgres',
        port: '5432',
        user: pg.POSTGRES_USER,
        password: pg.POSTGRES_PASSWORD,
        database: pg.POSTGRES_DB ?? pg.POSTGRES_USER,
      });

      const mq = environmentOf(file.services.rabbitmq);
      const broker = new URL(config.RABBITMQ_URL);
      expect({ host: broker.hostname, port: broker.port || '5672', user: decodeURIComponent(broker.username), password: decodeURIComponent(broker.password) }).toEqual({
        host: 'rabbitmq',
        port: '5672',
        user: mq.RABBITMQ_DEFAULT_USER,
        password: mq.RABBITMQ_DEFAULT_PASS,
      });
    });
  });

  describe('dashboard', () => {
    const service = compose.services[dashboardName];
    const env = environmentOf(service);
    const shape = shapeOf(DashboardConfig);

    it('runs the built dashboard, whose main.ts loads the schema checked here, from this repository', () => {
      expect(commandOf(service)).toEqual(['node', 'dist/apps/dashboard/src/main.js']);
      expect(read('apps/dashboard/src/main.ts')).toMatch(/loadConfig\(\s*DashboardConfig\b/);
      const build = service.build;
      expect(typeof build === 'string' ? build : (build as { context?: string } | undefined)?.context).toBe('.');
    });

    it('sets only variables its config schema reads, and every one whose default only suits a developer machine', () => {
      expect(Object.keys(env).filter((key) => !(key in shape))).toEqual([]);
      const mustSet = mustSetKeysOf(DashboardConfig);
      expect(mustSet).toEqual(expect.arrayContaining(['DASHBOARD_PORT', ...Object.keys(dashboardUpstreams)]));
      expect(Object.keys(env)).toEqual(expect.arrayContaining(mustSet));
    });

    it.each([
      ['defaults', requiredSecrets],
      ['ops overrides', overrides],
    ])('has settings the dashboard accepts (%s)', (_label, vars: Record<string, string>) => {
      const resolved = environmentOf(loadCompose(vars).services[dashboardName]);
      expect(() => loadConfig(DashboardConfig, resolved)).not.toThrow();
      const parsed = DashboardConfig.safeParse(Object.fromEntries(Object.entries(resolved).filter(([, v]) => v !== '')));
      expect(parsed.error?.issues ?? []).toEqual([]);
    });

    it('publishes its HTTP port as set in its environment, and health-checks that port', () => {
      const port = Number(env.DASHBOARD_PORT);
      expect(portsOf(service)).toEqual([{ host: port, container: port }]);
      expect(healthcheckCommand(service)).toContain(`//127.0.0.1:${port}/health`);
    });

    it.each([
      ['defaults', requiredSecrets],
      ['ops overrides', overrides],
    ])("reaches each service by its compose name on the port that service listens on (%s)", (_label, vars: Record<string, string>) => {
      const file = loadCompose(vars);
      const config = loadConfig(DashboardConfig, environmentOf(file.services[dashboardName]));
      for (const [key, name] of Object.entries(dashboardUpstreams)) {
        const { schema } = heraldServices[name];
        const listening = loadConfig(schema, environmentOf(file.services[name]))[portKeyOf(schema) as keyof z.infer<typeof schema>];
        const url = new URL(config[key as keyof typeof dashboardUpstreams]);
        expect({ key, host: url.hostname, port: Number(url.port) }).toEqual({ key, host: name, port: listening });
      }
    });

    it('starts once the three services are healthy, and needs neither PostgreSQL nor RabbitMQ itself', () => {
      expect(dependsOn(service)).toEqual(Object.fromEntries(heraldNames.map((name) => [name, 'service_healthy'])));
    });
  });

  describe('component-download', () => {
    const service = compose.services['component-download'];
    const configOf = (file: ComposeFile) => loadConfig(ComponentDownloadConfig, environmentOf(file.services['component-download']));

    it('keeps the component store on a named volume', () => {
      const config = configOf(compose);
      const mounts = namedVolumesOf(service, compose);
      const holding = mounts.filter((m) => config.COMPONENT_STORE_DIR === m.target || config.COMPONENT_STORE_DIR.startsWith(`${m.target}/`));
      expect(path.isAbsolute(config.COMPONENT_STORE_DIR)).toBe(true);
      expect(holding).toHaveLength(1);
    });

    it('hands agents download URLs on the published port by default, and lets ops change them', () => {
      const config = configOf(compose);
      const url = new URL(config.PUBLIC_BASE_URL);
      expect(url.protocol).toMatch(/^https?:$/);
      expect(Number(url.port)).toBe(portsOf(service)[0].host);
      const overridden = configOf(loadCompose(overrides));
      expect(overridden.PUBLIC_BASE_URL).toBe(overrides.PUBLIC_BASE_URL);
      expect(overridden.UPSTREAM_MANIFEST_URL).toBe(overrides.UPSTREAM_MANIFEST_URL);
      expect(config.UPSTREAM_MANIFEST_URL).toBeUndefined();
    });
  });
});

// ---- The demo profile ------------------------------------------------------------------------

/** The `--name=value` flags of a command. */
function flagsOf(command: string[]): Record<string, string> {
  return Object.fromEntries(command.filter((a) => a.startsWith('--')).map((a) => [a.slice(2).split('=')[0], a.slice(2).split('=').slice(1).join('=')]));
}

/** Option names a CLI's parseArgs accepts, read from its source. */
function cliOptionsOf(file: string): string[] {
  const source = read(file);
  const options = /options:\s*\{([\s\S]*?)\n {4}\},/.exec(source)?.[1] ?? '';
  return [...options.matchAll(/^\s*'?([a-z-]+)'?: \{ type:/gm)].map((m) => m[1]);
}

describe('docker-compose.yml demo profile', () => {
  const compose = loadCompose();
  const demo = ['update-source', 'demo-downloader', 'simulator'];
  const service = (name: string) => compose.services[name];

  it('adds the update source, a component-download following it and the simulator, all only with --profile demo', () => {
    for (const name of demo) expect({ name, profiles: service(name)?.profiles }).toEqual({ name, profiles: ['demo'] });
  });

  it('runs the built CLIs with flags they accept', () => {
    const cases = [
      ['update-source', 'apps/update-source/src/main.ts', 'dist/apps/update-source/src/main.js'],
      ['simulator', 'apps/agent-simulator/src/simulate.ts', 'dist/apps/agent-simulator/src/simulate.js'],
    ];
    for (const [name, source, built] of cases) {
      const command = commandOf(service(name));
      expect(command.slice(0, 2)).toEqual(['node', built]);
      expect(existsSync(path.join(root, source))).toBe(true);
      const accepted = cliOptionsOf(source);
      expect(accepted.length).toBeGreaterThan(3);
      for (const flag of Object.keys(flagsOf(command))) expect({ name, flag, known: accepted.includes(flag) }).toEqual({ name, flag, known: true });
    }
  });

  it('hands the update source public key to demo-downloader through a shared volume, and points it at the source', () => {
    const upstream = flagsOf(commandOf(service('update-source')));
    const env = environmentOf(service('demo-downloader'));
    const keyFile = env.UPSTREAM_PUBLIC_KEY_FILE;
    expect(keyFile).toBe(upstream['public-key-out']);
    const mountOf = (name: string) => namedVolumesOf(service(name), compose).find((m) => keyFile.startsWith(`${m.target}/`));
    expect(mountOf('update-source')?.source).toBeDefined();
    expect(mountOf('demo-downloader')?.source).toBe(mountOf('update-source')?.source);
    const manifest = new URL(env.UPSTREAM_MANIFEST_URL);
    expect(manifest.hostname).toBe('update-source');
    expect(manifest.port).toBe(upstream.port);
    expect(healthcheckCommand(service('update-source'))).toContain(`127.0.0.1:${upstream.port}/manifest.json`);
    expect(Object.keys(service('demo-downloader').depends_on ?? {})).toContain('update-source');
  });

  it('configures demo-downloader with settings component-download reads (X_FILE for X), sharing its store and database', () => {
    const env = environmentOf(service('demo-downloader'));
    const shape = shapeOf(ComponentDownloadConfig);
    const unknown = Object.keys(env).filter((key) => !(key in shape) && !(key.endsWith('_FILE') && key.slice(0, -5) in shape));
    expect(unknown).toEqual([]);
    const { UPSTREAM_PUBLIC_KEY_FILE: _file, ...rest } = env;
    const config = loadConfig(ComponentDownloadConfig, { ...rest, UPSTREAM_PUBLIC_KEY: overrides.UPSTREAM_PUBLIC_KEY });
    const main = loadConfig(ComponentDownloadConfig, environmentOf(service('component-download')));
    expect(config.COMPONENT_STORE_DIR).toBe(main.COMPONENT_STORE_DIR);
    const storeOf = (name: string) => namedVolumesOf(service(name), compose).find((m) => config.COMPONENT_STORE_DIR.startsWith(m.target))?.source;
    expect(storeOf('demo-downloader')).toBe(storeOf('component-download'));
    expect(env.DATABASE_URL).toBe(environmentOf(service('component-download')).DATABASE_URL);
    const base = new URL(config.PUBLIC_BASE_URL);
    expect(base.hostname).toBe('demo-downloader');
    expect(Number(base.port)).toBe(config.COMPONENT_DOWNLOAD_PORT);
    expect(healthcheckCommand(service('demo-downloader'))).toContain(`127.0.0.1:${config.COMPONENT_DOWNLOAD_PORT}/health`);
  });

  it('connects the simulator to the broker the services use, each agent with its own identity, and health-checks the status file it writes', () => {
    const env = environmentOf(service('simulator'));
    // The same broker, but not the services' user: each agent logs in as itself (issue 14).
    const agents = new URL(env.RABBITMQ_URL!);
    const services = new URL(environmentOf(service('agent-presence')).RABBITMQ_URL!);
    expect(agents.host).toBe(services.host);
    expect(agents.password).toBe('');
    expect(env.RABBITMQ_URL).not.toContain(requiredSecrets.HERALD_RABBITMQ_PASSWORD);
    // The token it enrols with is one agent-presence accepts; its secrets come from a seed kept in .env.
    const presence = loadConfig(heraldServices['agent-presence'].schema, environmentOf(service('agent-presence'))) as { AGENT_ENROLMENT_TOKENS: Array<{ token: string }> };
    expect(presence.AGENT_ENROLMENT_TOKENS.map((t) => t.token)).toContain(env.AGENT_ENROLMENT_TOKEN);
    expect(env.SIM_SECRET_SEED).toBe(requiredSecrets.HERALD_SIM_SECRET_SEED);
    const flags = flagsOf(commandOf(service('simulator')));
    expect(Number(flags.agents)).toBe(500);
    expect(flags).toHaveProperty('forever');
    expect(healthcheckCommand(service('simulator'))).toContain(flags['status-file']);
    // Its agents hold the starting version's bytes, from the component-download they update from.
    expect(flags.downloads).toBe(environmentOf(service('demo-downloader')).PUBLIC_BASE_URL);
    expect(Object.keys(service('simulator').depends_on ?? {})).toEqual(expect.arrayContaining(['notification-dispatch', 'agent-presence', 'demo-downloader']));
  });
});

// ---- Dockerfile and .dockerignore ------------------------------------------------------------

interface Stage {
  from: string;
  name?: string;
  instructions: { op: string; args: string }[];
}

/** Stages of the Dockerfile, with line continuations joined and comments dropped. */
function dockerStages(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const args = Object.fromEntries(
    logical
      .filter((l) => /^ARG\s+\w+=/.test(l))
      .map((l) => l.replace(/^ARG\s+/, '').split('='))
      .map(([k, v]) => [k, v]),
  );
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op.toUpperCase() === 'FROM') {
      const [image, , name] = rest.replace(/\$\{(\w+)\}/g, (_m, k: string) => args[k] ?? '').split(/\s+/);
      stages.push({ from: image, name, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args: rest });
    }
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages(read('Dockerfile'));
  const runtime = stages.at(-1)!;
  const build = stages.find((s) => s.name && runtime.instructions.some((i) => i.op === 'COPY' && i.args.includes(`--from=${s.name}`)));
  const runs = (stage: Stage) => stage.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);

  it('is multi-stage on a fixed release of node:20-bookworm-slim, matching package.json engines', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines).toMatch(/^>=20\b/);
  });

  it('has no `# syntax=` line, which makes BuildKit fetch a frontend from a registry (air-gapped builds fail)', () => {
    expect(read('Dockerfile')).not.toMatch(/^\s*#\s*syntax\s*=/im);
  });

  it('builds in a stage of its own with npm ci and npm run build', () => {
    expect(build).toBeDefined();
    expect(runs(build!).join('\n')).toMatch(/\bnpm ci\b/);
    expect(runs(build!).join('\n')).toMatch(/\bnpm run build\b/);
    expect(runtime.instructions).toContainEqual({ op: 'COPY', args: `--from=${build!.name} /app/dist ./dist` });
  });

  it("compiles zstd-napi's addon in the build stage against the image's Node headers, and copies it into the runtime", () => {
    expect(build!.instructions).toContainEqual({ op: 'ENV', args: 'npm_config_nodedir=/usr/local' });
    expect(runs(build!).join('\n')).toMatch(/apt-get install .*\bg\+\+/);
    expect(runs(build!).join('\n')).toMatch(/\bnpm rebuild\b.*\bzstd-napi\b/);
    const addon = 'node_modules/zstd-napi/build/Release/binding.node';
    expect(runtime.instructions).toContainEqual({ op: 'COPY', args: `--from=${build!.name} /app/${addon} ./${addon}` });
  });

  it('installs production dependencies only in the runtime stage, and sets NODE_ENV=production', () => {
    const installs = runs(runtime).filter((r) => /\bnpm (ci|install|i)\b/.test(r));
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/\bnpm ci\b.*--omit=dev\b/);
    expect(runtime.instructions).toContainEqual({ op: 'ENV', args: 'NODE_ENV=production' });
    expect(runs(runtime).join('\n')).not.toMatch(/npm run build/);
  });

  it('runs as a non-root user that owns the component store directory compose mounts', () => {
    const users = runtime.instructions.filter((i) => i.op === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
    const storeDir = environmentOf(loadCompose().services['component-download']).COMPONENT_STORE_DIR;
    const userIndex = runtime.instructions.findIndex((i) => i.op === 'USER');
    const setup = runtime.instructions.slice(0, userIndex).filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(setup).toContain(`mkdir -p ${storeDir}`);
    expect(setup).toMatch(new RegExp(`chown -R ${users.at(-1)}(:\\w+)? (${storeDir}|${path.posix.dirname(storeDir)})\\b`));
  });

  it('has a default command that is one of the services, and a health check', () => {
    const cmd = runtime.instructions.filter((i) => i.op === 'CMD').at(-1);
    expect(cmd).toBeDefined();
    const entry = (JSON.parse(cmd!.args) as string[])[1];
    expect(heraldNames.map((n) => `dist/apps/${n}/src/main.js`)).toContain(entry);
    expect(runtime.instructions.some((i) => i.op === 'HEALTHCHECK' && i.args.includes('/health'))).toBe(true);
  });

  it('.dockerignore keeps dependencies and build output out of the context, and nothing the build copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', 'var', '.git']) expect(ignored).toContain(entry);
    const copied = stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'apps', 'libs']));
    for (const file of copied) {
      expect(existsSync(path.join(root, file))).toBe(true);
      expect(ignored).not.toContain(file);
    }
  });
});
