// Builds and runs the project's binaries for the browser test: each logs a
// JSON line {"msg":"listening","addr":"127.0.0.1:PORT"} once it serves, which
// is how the test learns its port. Every process is killed at the end.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds a command of the module into bin/. */
export function build(name) {
  const out = path.join(root, 'bin', name);
  execFileSync('go', ['build', '-o', out, `./cmd/${name}`], { cwd: root, stdio: 'inherit' });
  return out;
}

/** A running binary: its address, its log lines, and how to stop it. */
export class Proc {
  constructor(name, child) {
    this.name = name;
    this.child = child;
    this.logs = [];
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  }

  /** Sends a signal and waits for the exit, up to ms; then kills it. */
  async stop(signal = 'SIGTERM', ms = 10_000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last log lines, for a failure message. */
  tail(n = 20) {
    return this.logs.slice(-n).join('\n');
  }
}

/** Starts a binary and resolves once it logs the address it listens on. */
export async function start(bin, args, timeoutMs = 30_000) {
  const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new Proc(path.basename(bin), child);
  const lines = createInterface({ input: child.stdout });
  createInterface({ input: child.stderr }).on('line', (l) => proc.logs.push(l));
  const addr = new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      proc.logs.push(line);
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'listening') resolve(entry.addr);
      } catch {
        // Not a JSON line: kept in the logs only.
      }
    });
    proc.exited.then(({ code, signal }) =>
      reject(new Error(`${proc.name} exited (${code ?? signal}) before listening:\n${proc.tail()}`)),
    );
    setTimeout(() => reject(new Error(`${proc.name} did not listen within ${timeoutMs} ms`)), timeoutMs).unref();
  });
  try {
    proc.addr = await addr;
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
  if (!/^127\.0\.0\.1:\d+$/.test(proc.addr)) {
    await proc.stop('SIGKILL');
    throw new Error(`${proc.name} listens on ${proc.addr}, not on loopback`);
  }
  proc.url = `http://${proc.addr}`;
  return proc;
}

/** A random token of 32 characters. */
export const randomToken = () => randomBytes(24).toString('base64url');

/**
 * Starts bin with args and --auth-tokens-file: a write and a read token
 * (srv.writeToken, srv.readToken), each 32 random characters. stop() kills
 * it and removes the file.
 */
export async function startWithTokens(bin, args) {
  const dir = mkdtempSync(path.join(tmpdir(), 'autorefresh-e2e-'));
  const writeToken = randomToken();
  const readToken = randomToken();
  const tokensFile = path.join(dir, 'tokens');
  writeFileSync(tokensFile, `write ${writeToken} e2e\nread ${readToken} e2e-reader\n`, { mode: 0o600 });
  let srv;
  try {
    srv = await start(bin, [...args, '--auth-tokens-file', tokensFile]);
  } finally {
    if (!srv) rmSync(dir, { recursive: true, force: true });
  }
  Object.assign(srv, { writeToken, readToken });
  const stop = srv.stop.bind(srv);
  srv.stop = async (...a) => {
    try {
      return await stop(...a);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return srv;
}
