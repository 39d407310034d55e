// anvil.mjs - starts a real anvil for tests on a free 127.0.0.1 port and stops it by its PID.
//
//   const node = await startAnvil({ accounts: 25 });   // { url, pid, port, stop() }
//   ...
//   await node.stop();
//
// The caller owns the process: stop() kills exactly that PID (SIGTERM, then SIGKILL after a
// grace period). As safety nets, a process 'exit' handler and SIGINT/SIGTERM handlers kill
// every anvil this module started that is still running, and a watchdog (below) kills anvil
// when this process dies without running any handler, so a failing, interrupted or killed
// test leaves none behind.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ANVIL = resolve(repo, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
/** anvil's default dev mnemonic: its accounts are m/44'/60'/0'/0/i of this phrase. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

const running = new Set(); // PIDs of the anvils started here and not yet stopped

function killAll() {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/** A port that was free a moment ago (the kernel picks it); anvil may still lose a race for it. */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

async function rpcReady(url) {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
    return response.ok;
  } catch {
    return false;
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// anvil runs under a tiny sh watchdog: sh prints anvil's PID, waits for it, and a background
// reader kills it when our end of the watchdog's stdin closes. That happens when stop() ends
// it, and also when this process dies in a way no handler sees (SIGKILL, or the test runner
// killing its test process when its own output pipe closes), so no anvil outlives its test.
// (sh gives a background command /dev/null as stdin, hence the copy of stdin in fd 3 first.)
const WATCHDOG = `exec 3<&0
"$@" </dev/null >/dev/null 3<&- &
pid=$!
echo "$pid"
{ read -r _ <&3; kill "$pid" 2>/dev/null; } &
wait "$pid"`;

async function startOnce(accounts, extraArgs) {
  const port = await freePort();
  const args = ['--host', '127.0.0.1', '--port', String(port), '--accounts', String(accounts), '--quiet', ...extraArgs];
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'sh', ANVIL, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  let exited = null;
  const onExit = new Promise((r) => child.once('exit', r));
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  child.on('error', (e) => {
    exited = { code: e.message, signal: null };
  });
  // The first line the watchdog prints is anvil's PID: the one we own and kill.
  const pid = await new Promise((resolvePid) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) resolvePid(Number(out.slice(0, newline)));
    });
    child.once('exit', () => resolvePid(0));
  });
  if (!pid) throw new Error(`anvil: cannot start ${ANVIL} (${stderr.trim()}); run scripts/setup.sh`);
  running.add(pid);
  onExit.then(() => running.delete(pid));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  let ready = false;
  while (!ready && !exited && Date.now() < deadline) {
    ready = await rpcReady(url);
    if (!ready) await sleep(50);
  }
  if (exited) {
    child.stdin.end();
    return { lost: true, why: `anvil exited (${exited.code ?? exited.signal}): ${stderr.trim()}` };
  }
  if (!ready) {
    process.kill(pid, 'SIGKILL');
    child.stdin.end();
    throw new Error(`anvil on ${url} did not answer within 15 s: ${stderr.trim()}`);
  }
  const stop = async () => {
    if (!exited) {
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) process.kill(pid, 'SIGKILL');
      }, 3000);
      await onExit; // the watchdog's `wait` returns when anvil is gone
      clearTimeout(timer);
    }
    child.stdin.end(); // lets the watchdog's reader finish
  };
  return { url, port, pid, stop };
}

/**
 * Starts anvil with `accounts` funded dev accounts on a free port and waits until it answers.
 * Retries with another port when anvil loses the port to someone else.
 * @returns {Promise<{url: string, port: number, pid: number, stop: () => Promise<void>}>}
 */
export async function startAnvil({ accounts = 10, args = [] } = {}) {
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const node = await startOnce(accounts, args);
    if (!node.lost) return node;
    last = node.why;
  }
  throw new Error(`anvil: could not start after 5 attempts: ${last}`);
}
