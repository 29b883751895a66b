// Own remedy processes for the tests that need special environment, restarts or several
// replicas (the notification tests): a fresh database per test, `remedy serve --demo` on a
// free port with its output in a log file, kill (SIGTERM or SIGKILL) and restart on the same
// database, tokens from `remedy token issue`, and a tiny GraphQL client.
//
// run.sh hands over REMEDY_BIN (absolute path of the binary), REMEDY_TEST_BACKEND (`sqlite` or
// `postgresql`) and, for PostgreSQL, REMEDY_PG_BASE (the server URL without a database name).
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, readFileSync, writeSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const BIN = process.env.REMEDY_BIN || '';
export const BACKEND = process.env.REMEDY_TEST_BACKEND || 'sqlite';
export const PG_BASE = (process.env.REMEDY_PG_BASE || '').replace(/\/+$/, '');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export { sleep };

// Every server still running when node exits (a test runner killed mid-test) is killed too.
const live = new Set();
process.on('exit', () => {
  for (const proc of live) {
    try { proc.kill('SIGKILL'); } catch { /* gone */ }
  }
});

function needBin() {
  if (!BIN || !existsSync(BIN)) {
    throw new Error(`REMEDY_BIN is not set or missing (${BIN || 'unset'}): run the tests through tests/clients/run.sh`);
  }
  return BIN;
}

/** A fresh temporary directory (the caller removes it, or a Harness does). */
export function tempDir(prefix = 'remedy-t-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A free TCP port on 127.0.0.1 (bound, read and released: a tiny race, as in run.sh). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A fresh, empty database for the backend under test: `{ url, drop() }`. SQLite: a file in a
 * new temporary directory; PostgreSQL: `CREATE DATABASE remedy_t_<random>` on REMEDY_PG_BASE,
 * dropped `WITH (FORCE)` by `drop()`.
 */
export async function freshDatabase() {
  if (BACKEND === 'postgresql') {
    if (!PG_BASE) throw new Error('REMEDY_TEST_BACKEND is postgresql but REMEDY_PG_BASE is not set');
    const name = `remedy_t_${randomBytes(6).toString('hex')}`;
    await run('psql', [`${PG_BASE}/postgres`, '-qc', `CREATE DATABASE "${name}"`]);
    return {
      url: `${PG_BASE}/${name}`,
      async drop() {
        await run('psql', [`${PG_BASE}/postgres`, '-qc', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`])
          .catch(() => {});
      },
    };
  }
  const dir = tempDir('remedy-db-');
  return {
    url: `sqlite://${dir}/x.db?mode=rwc`,
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POSTs one GraphQL operation with a bearer token; returns the parsed body (`data`, `errors`). */
export async function gql(url, token, query, variables = {}) {
  const res = await fetch(`${url.replace(/\/+$/, '')}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    Object.defineProperty(body, 'httpStatus', { value: res.status, enumerable: false });
    return body;
  } catch {
    throw new Error(`POST /graphql answered HTTP ${res.status} with non-JSON: ${text.slice(0, 500)}`);
  }
}

/** The `extensions.code` of every error of a GraphQL body. */
export function errorCodes(body) {
  return (body.errors || []).map((e) => e.extensions?.code);
}

/** Polls `fn` every `interval` ms until it returns a truthy value (returned), at most `timeout` ms. */
export async function waitFor(description, fn, { timeout = 60000, interval = 250, state } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  let lastValue;
  for (;;) {
    try {
      lastValue = await fn();
      lastError = undefined;
      if (lastValue) return lastValue;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      let detail = '';
      if (state) {
        try {
          detail = `; state: ${JSON.stringify(await state())}`;
        } catch (e) {
          detail = `; state unavailable: ${e.message}`;
        }
      }
      if (lastError) detail += `; last error: ${lastError.message}`;
      throw new Error(`timed out after ${Math.round(timeout / 1000)} s waiting for ${description}${detail}`);
    }
    await sleep(interval);
  }
}

/**
 * One `remedy serve --demo` process (restartable on the same database). Its stdout and stderr
 * go to `logFile` (appended across restarts, each start marked).
 */
export class Remedy {
  /**
   * `generatedSecret`: no REMEDY_JWT_SECRET, so that `serve --demo` makes one and issues its
   * demo tokens (offered by the console's sign-in page); no ADMIN token is issued then.
   */
  constructor({ name = 'remedy', databaseUrl, env = {}, demo = true, dir, secret, generatedSecret = false }) {
    this.name = name;
    this.generatedSecret = generatedSecret;
    this.databaseUrl = databaseUrl;
    this.extraEnv = env;
    this.demo = demo;
    this.secret = secret || randomBytes(32).toString('hex');
    this.dir = dir || tempDir('remedy-log-');
    this.logFile = join(this.dir, `${name}.log`);
    this.proc = null;
    this.port = null;
    this.url = null;
    this.starts = 0;
  }

  env() {
    // Nothing from the outer environment that configures remedy leaks in (REMEDY_*, OTEL_*).
    const base = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('REMEDY_') && !k.startsWith('OTEL_')),
    );
    const env = {
      ...base,
      REMEDY_LISTEN: `127.0.0.1:${this.port}`,
      REMEDY_JWT_SECRET: this.secret,
      REMEDY_DATABASE_URL: this.databaseUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      REMEDY_LOG: 'info',
      REMEDY_WORKERS: '2',
      REMEDY_SHUTDOWN_GRACE_SECONDS: '5',
      NO_COLOR: '1',
      ...this.extraEnv,
    };
    if (this.generatedSecret) delete env.REMEDY_JWT_SECRET;
    return env;
  }

  /** Starts (or restarts, same port if free) and waits for `GET /readyz` 200. */
  async start({ timeout = 120000 } = {}) {
    if (this.proc) throw new Error(`${this.name} is already running`);
    if (!this.port) this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.starts += 1;
    const fd = openSync(this.logFile, 'a');
    writeSync(fd, `\n===== ${this.name} start #${this.starts} at ${new Date().toISOString()} on ${this.url} =====\n`);
    const args = this.demo ? ['serve', '--demo'] : ['serve'];
    const proc = spawn(needBin(), args, { env: this.env(), stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.proc = proc;
    live.add(proc);
    proc.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); });
      proc.on('error', (error) => resolve({ code: null, signal: null, error }));
    });
    let exit = null;
    proc.exited.then((e) => { exit = e; });
    const deadline = Date.now() + timeout;
    for (;;) {
      if (exit) {
        this.proc = null;
        throw new Error(`${this.name} exited before it was ready (${JSON.stringify(exit)})${this.logTail()}`);
      }
      try {
        const res = await fetch(`${this.url}/readyz`);
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} not ready within ${timeout / 1000} s${this.logTail()}`);
      }
      await sleep(200);
    }
    this.token = this.generatedSecret ? null : await this.issueToken();
    return this;
  }

  /** Stops it: SIGTERM (graceful, SIGKILL after 20 s) or SIGKILL (a crash). */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc) return null;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exited;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
    const result = await proc.exited;
    clearTimeout(timer);
    const fd = openSync(this.logFile, 'a');
    writeSync(fd, `===== ${this.name} stopped (${signal}) at ${new Date().toISOString()}: ${JSON.stringify(result)} =====\n`);
    closeSync(fd);
    return result;
  }

  async kill() {
    return this.stop('SIGKILL');
  }

  async restart({ signal = 'SIGTERM', env } = {}) {
    await this.stop(signal);
    if (env) this.extraEnv = { ...this.extraEnv, ...env };
    return this.start();
  }

  /** `remedy token issue --subject S --role ROLE --ttl 1h` against this database and secret. */
  async issueToken(subject = 'notify-tests', role = 'ADMIN') {
    const { stdout } = await run(needBin(), ['token', 'issue', '--subject', subject, '--role', role, '--ttl', '1h'], {
      env: { ...this.env(), REMEDY_LOG: 'warn' },
    }).catch((e) => {
      throw new Error(`remedy token issue failed: ${e.message}\n${e.stderr || ''}`);
    });
    const token = stdout.trim().split('\n').pop().trim();
    if (!token) throw new Error('remedy token issue printed no token');
    return token;
  }

  /** The raw GraphQL body (data and errors) as this server's ADMIN. */
  async raw(query, variables = {}, token = this.token) {
    return gql(this.url, token, query, variables);
  }

  /** `data` of an operation that must succeed; the errors and the log tail otherwise. */
  async q(query, variables = {}, token = this.token) {
    const body = await gql(this.url, token, query, variables);
    if (body.errors || body.httpStatus !== 200) {
      throw new Error(`GraphQL errors (HTTP ${body.httpStatus}) from ${this.name}: ${JSON.stringify(body.errors || body)}\n`
        + `query: ${query.replace(/\s+/g, ' ').trim()}\nvariables: ${JSON.stringify(variables)}`);
    }
    return body.data;
  }

  logTail(lines = 60) {
    try {
      // eslint-disable-next-line no-control-regex
      const text = readFileSync(this.logFile, 'utf8').replace(/\x1b\[[0-9;]*m/g, '').split('\n');
      return `\n--- ${this.name} log (last ${lines} lines of ${this.logFile}) ---\n${text.slice(-lines).join('\n')}`;
    } catch {
      return `\n--- ${this.name}: no log ---`;
    }
  }
}

/**
 * What one test starts and must clean up: remedy processes, receivers, databases, temporary
 * directories. `run(t, fn)` runs the body, adds every remedy's log tail to a failure (and to
 * the TAP diagnostics), and cleans up whatever happens.
 */
export class Harness {
  constructor(t) {
    this.t = t;
    this.remedies = [];
    this.closers = [];
    this.databases = [];
    this.dirs = [];
  }

  async database() {
    const db = await freshDatabase();
    this.databases.push(db);
    return db;
  }

  dir(prefix) {
    const dir = tempDir(prefix);
    this.dirs.push(dir);
    return dir;
  }

  /**
   * A started remedy (`serve --demo`) on `databaseUrl` (a fresh database when absent); replicas
   * of one deployment share `secret` (REMEDY_JWT_SECRET; random when absent).
   */
  async remedy({ name, databaseUrl, env = {}, demo = true, secret } = {}) {
    if (!databaseUrl) databaseUrl = (await this.database()).url;
    const remedy = new Remedy({ name: name || `remedy${this.remedies.length + 1}`, databaseUrl, env, demo, secret, dir: this.dir('remedy-log-') });
    this.remedies.push(remedy);
    await remedy.start();
    return remedy;
  }

  /** Registers something with `close()` (a receiver). */
  track(closable) {
    this.closers.push(closable);
    return closable;
  }

  logs() {
    return this.remedies.map((r) => r.logTail()).join('\n');
  }

  async cleanup() {
    for (const r of this.remedies) await r.stop('SIGKILL').catch(() => {});
    for (const c of this.closers) await Promise.resolve(c.close()).catch(() => {});
    for (const db of this.databases) await db.drop().catch(() => {});
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }

  static async run(t, fn) {
    const h = new Harness(t);
    try {
      await fn(h);
    } catch (e) {
      const logs = h.logs();
      if (logs) {
        for (const line of logs.split('\n')) t.diagnostic(line);
        if (e && typeof e === 'object') {
          try { e.message = `${e.message}${logs}`; } catch { /* read-only */ }
        }
      }
      throw e;
    } finally {
      await h.cleanup();
    }
  }
}
