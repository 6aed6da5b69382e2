// Helpers of the console's browser test: a hermodd of its own, the hermod
// CLI, and bounded waits on conditions.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

// Polls fn until it returns a truthy value (which it resolves with), or
// throws once `timeout` ms passed. An exception in fn counts as "not yet".
export async function waitFor(what, fn, { timeout = 15000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`,
      );
    }
    await delay(interval);
  }
}

// Runs a command to its end (at most `timeout` ms, then it is killed and
// this throws). Resolves with {code, stdout, stderr}; rejects on a non-zero
// exit unless `check` is false. `input`: bytes for its stdin.
export function run(file, args, { input, timeout = 30000, check = true, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (check && code !== 0) {
        reject(new Error(`${path.basename(file)} ${args.join(' ')}: exit ${code ?? signal}: ${result.stderr.trim()}`));
      } else resolve(result);
    });
    child.stdin.end(input ?? '');
  });
}

// A background process, stopped by its PID.
export class Background {
  constructor(file, args, name) {
    this.name = name;
    this.child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.output = '';
    const keep = (d) => {
      if (this.output.length < 64 * 1024) this.output += d.toString();
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  // SIGTERM, then SIGKILL if it has not exited within `grace` ms.
  async stop(grace = 5000) {
    if (!this.running) return this.exited;
    process.kill(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => this.running && process.kill(this.child.pid, 'SIGKILL'), grace);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

// Starts hermodd on loopback ports of its own, with a fresh data directory
// and a random admin token. Resolves once it printed both addresses.
export async function startBroker({ hermodd, logFile, extraArgs = [] }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hermod-console-'));
  const token = crypto.randomBytes(24).toString('hex');
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const args = [
    '--listen',
    '127.0.0.1:0',
    '--http-listen',
    '127.0.0.1:0',
    '--data-dir',
    path.join(dir, 'data'),
    '--auth-token-file',
    tokenFile,
    // Queues show in listings once applied: soon, for a short test.
    '--apply-lag-ms',
    '50',
    ...extraArgs,
  ];
  const child = spawn(hermodd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(logFile);
  child.stderr.pipe(log);
  let stdout = '';
  const broker = {
    child,
    dir,
    token,
    tokenFile,
    address: '',
    http: '',
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
        const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 10000);
        await new Promise((resolve) => child.once('exit', resolve));
        clearTimeout(timer);
      }
      log.end();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  // A last resort if the test process ends without its after hook.
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  child.stdout.on('data', (d) => {
    stdout += d.toString();
    log.write(d);
  });
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve(`hermodd exited (${code ?? signal})`)),
  );
  const ready = waitFor(
    'hermodd to print its addresses',
    () => {
      const listening = /^listening on (\S+)$/m.exec(stdout);
      const http = /^(?:metrics|http|console) on (?:https?:\/\/)?([^\s/]+)/m.exec(stdout);
      if (listening && http) {
        broker.address = listening[1];
        broker.http = http[1];
        return true;
      }
      return false;
    },
    { timeout: 20000, interval: 50 },
  );
  const first = await Promise.race([ready, exited]);
  if (first !== true) throw new Error(`${first}; see ${logFile}`);
  return broker;
}
