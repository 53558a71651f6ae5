// EdgeRooms under test: by default on `npm start` (scripts/start.mjs: the production bundle on workerd through
// Miniflare, no dev proxy), or with `runtime: 'dev'` exactly as `npm run dev` starts it (wrangler dev, the dev
// loop). Either way its state is in bench/.tmp/state, so a bench run never touches the developer's .wrangler/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { groupCpuSeconds, groupProcesses, spawnGroup, stopGroup } from './processes.mjs';
import { AddressPool, freePort, sleep } from './util.mjs';

export const PASSWORD = 'SecurePass123!';
const ADMIN = { username: 'admin', password: 'EdgeRooms-Admin-1' };

export class EdgeRooms {
  constructor({ root, log, env, runtime = 'start' }) {
    if (runtime !== 'start' && runtime !== 'dev') throw new Error(`unknown EdgeRooms runtime ${runtime} (start, dev)`);
    this.runtime = runtime;
    this.root = root;
    this.log = log;
    this.env = env;
    this.state = join(root, 'bench', '.tmp', 'state');
    this.runId = Date.now().toString(36);
    // Auth endpoints allow 5/min per IP; everything else 1000/min per IP (see src/core/limits.ts).
    this.authAddresses = new AddressPool('10.201', 4);
    this.addresses = new AddressPool('10.100', 400);
    this.users = new Map();
    this.registered = 0;
    this.serviceTokens = [];
    this.published = 0;
  }

  get label() {
    return this.runtime === 'start' ? 'EdgeRooms (npm start)' : 'EdgeRooms (wrangler dev, the dev loop)';
  }

  async start() {
    rmSync(this.state, { recursive: true, force: true });
    // `npm start` and `npm run dev` run their pre-script first (the demo page bundle the Worker imports): so does the bench.
    const prestep = join(this.root, 'scripts', 'build-web.mjs');
    if (existsSync(prestep)) {
      const built = spawnSync(process.execPath, [prestep], { cwd: this.root, env: this.env, encoding: 'utf8', timeout: 120_000 });
      this.log.write(`${built.stdout ?? ''}${built.stderr ?? ''}`);
      if (built.status !== 0) throw new Error('scripts/build-web.mjs (the pre-script) failed (see bench/.tmp/run.log)');
    }
    if (this.runtime === 'dev') {
      const wrangler = join(this.root, 'node_modules', '.bin', 'wrangler');
      // scripts/dev.mjs migrates the default state dir; the bench's own dir is migrated here, the same way
      // (scripts/start.mjs migrates the dir it is given itself).
      const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', this.state], {
        cwd: this.root,
        env: this.env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      this.log.write(migrate.stdout ?? '');
      this.log.write(migrate.stderr ?? '');
      if (migrate.status !== 0) throw new Error('applying D1 migrations to bench/.tmp/state failed (see bench/.tmp/run.log)');
    }
    // BENCH_PORT / BENCH_INSPECTOR_PORT pin the ports (machines where each engineer has a range of their own).
    this.port = Number(process.env.BENCH_PORT) || (await freePort());
    this.inspectorPort = Number(process.env.BENCH_INSPECTOR_PORT) || (await freePort());
    this.base = `http://127.0.0.1:${this.port}`;
    this.wsBase = `ws://127.0.0.1:${this.port}`;
    await this.launch({ inspector: this.runtime === 'dev' });
  }

  /** Starts the runtime on the state as it is; `inspector` opens the Worker isolate's inspector (wrangler dev always does). */
  async launch({ inspector }) {
    this.inspecting = inspector;
    const args =
      this.runtime === 'start'
        ? ['scripts/start.mjs', '--port', String(this.port), '--ip', '127.0.0.1', '--persist-to', this.state]
        : ['scripts/dev.mjs', '--port', String(this.port), '--ip', '127.0.0.1', '--persist-to', this.state];
    if (inspector || this.runtime === 'dev') args.push('--inspector-port', String(this.inspectorPort));
    if (this.runtime === 'dev') args.push('--show-interactive-dev-session=false', '--log-level', 'warn');
    this.child = spawnGroup(process.execPath, args, { cwd: this.root, env: this.env, log: this.log });
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.label} exited with ${this.child.exitCode} (see bench/.tmp/run.log)`);
      try {
        const res = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`${this.label} did not answer /health within 120 s`);
  }

  /**
   * Restarts the runtime on the same state (users, tokens and actors survive), with or without the isolate's
   * inspector: the JS heap figures need it, nothing else should run with it.
   */
  async restart({ inspector }) {
    if (this.runtime === 'dev' || this.inspecting === inspector) return;
    await stopGroup(this.child);
    await this.launch({ inspector });
  }

  async stop() {
    await stopGroup(this.child);
  }

  /**
   * The workerd processes. `npm start` runs one; `wrangler dev` runs the Worker in one (`--inspector-addr`)
   * behind a proxy workerd that owns the public port: both carry every WebSocket, so both are reported.
   */
  runtimeProcesses() {
    if (!this.child) return [];
    return groupProcesses(this.child.pid)
      .filter((p) => /workerd(\s|$)/.test(p.cmdline.split(' ')[0]) || p.cmdline.includes('/workerd '))
      .map((p) => ({
        pid: p.pid,
        role: this.runtime === 'start' ? 'workerd' : p.cmdline.includes('--inspector-addr') ? 'worker' : 'proxy',
      }));
  }

  /** CPU seconds used so far by every process of the runtime (Node launcher, wrangler, each workerd). */
  cpuSeconds() {
    return this.child ? groupCpuSeconds(this.child.pid) : 0;
  }

  /** The local D1 database's SQLite file (the one with the `players` table), for the REST baseline's snapshot. */
  d1File() {
    const dir = join(this.state, 'v3', 'd1', 'miniflare-D1DatabaseObject');
    const files = readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
    if (files.length !== 1) throw new Error(`expected one D1 database in ${dir}, found ${files.length}`);
    return join(dir, files[0]);
  }

  /** The Worker's JWT settings (wrangler.toml vars, .dev.vars secret): what the REST baseline verifies with. */
  jwtSettings() {
    const toml = readFileSync(join(this.root, 'wrangler.toml'), 'utf8');
    const secrets = parseEnv(readFileSync(join(this.root, '.dev.vars'), 'utf8'));
    const v = (name) => new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, 'm').exec(toml)?.[1];
    return { JWT_SECRET: secrets.JWT_SECRET, JWT_ISSUER: v('JWT_ISSUER'), JWT_AUDIENCE: v('JWT_AUDIENCE') };
  }

  async request(method, path, { token, body, ip, auth = false } = {}) {
    const headers = { 'CF-Connecting-IP': ip ?? (auth ? this.authAddresses.next() : this.addresses.next()) };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, json, text };
  }

  async expect(method, path, options, status) {
    const res = await this.request(method, path, options);
    if (res.status !== status) throw new Error(`${method} ${path}: ${res.status} ${res.text.slice(0, 300)}`);
    return res.json;
  }

  /** Logs in the seeded admin and mints `count` service tokens (one service account each, each with its own limit). */
  async setupPublishers(count) {
    const login = await this.expect('POST', '/api/auth/login', { body: ADMIN, auth: true }, 200);
    this.adminToken = login.access_token;
    for (let i = 0; i < count; i++) {
      const minted = await this.expect(
        'POST',
        '/api/admin/service-tokens',
        { token: this.adminToken, body: { name: `bench-${this.runId}-${i}` } },
        201,
      );
      this.serviceTokens.push(minted.token);
    }
  }

  /** One registered player per tenant (cached, concurrent callers share one registration): its token serves all its sockets. */
  userToken(tenant) {
    let token = this.users.get(tenant);
    if (!token) {
      const username = `b${this.runId}${this.users.size}`.slice(0, 32);
      const body = { username, email: `${username}@bench.invalid`, password: PASSWORD, tenant_id: tenant };
      token = this.expect('POST', '/api/auth/register', { body, auth: true }, 201).then((s) => s.access_token);
      this.users.set(tenant, token);
      token.catch(() => this.users.delete(tenant));
    }
    return token;
  }

  /**
   * A new player of `tenant` standing at `position` on `floor` (the EarthRing socket lives in the chunk of the
   * stored position): one registration (auth addresses, 5/min per IP) and one `PUT /api/players/{id}/position`.
   */
  async registerPlayer(tenant, position, floor) {
    const username = `g${this.runId}${this.registered++}`.slice(0, 32);
    const body = { username, email: `${username}@bench.invalid`, password: PASSWORD, tenant_id: tenant };
    const session = await this.expect('POST', '/api/auth/register', { body, auth: true }, 201);
    const token = session.access_token;
    await this.expect('PUT', `/api/players/${session.user_id}/position`, { token, body: { position, floor } }, 200);
    return { token, userId: session.user_id };
  }

  /** The paths the Worker serves right now, from its OpenAPI document. */
  async openApiPaths() {
    const doc = await this.expect('GET', '/openapi.json', {}, 200);
    return Object.keys(doc.paths ?? {});
  }

  /** True when `path` upgrades to a WebSocket (given a token): probes an endpoint other engineers may not have built yet. */
  async servesWebSocket(path) {
    const res = await this.request('GET', path, {});
    return res.status !== 404;
  }
}
