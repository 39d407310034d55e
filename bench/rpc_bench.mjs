// rpc_bench.mjs - end to end over the Ethereum JSON-RPC: ERC-20 transfers to fresh
// addresses, signed in advance, sent with eth_sendRawTransaction to one chain's RPC URLs
// (spread over them when there are several), each timed from its send to the block that
// holds it. The same client drives a cohort chain and anvil, so the figures compare.
//
//   node bench/rpc_bench.mjs --label NAME --rpc URL[,URL...] --key 0xFUNDED
//        [--senders 400] [--txs 5000] [--concurrency 32] [--timeout-s 180] [--wait] [--rate R]
//        [--client c|node]
//
// Set-up (not timed): the funded key deploys tests/integration/chain/Token.sol (compiled
// with the pinned solc-js) and gives every sender ETH and tokens. Timed: every transfer is
// sent (on --concurrency lanes of one request at a time, a sender's transfers in nonce
// order on one lane, sender i to URL i mod n); a watcher polls the first URL for new blocks every 20 ms and
// notes when each transfer's hash first appears in one. Latency = that moment - its send;
// throughput = transfers / (last seen - first sent). With --rate R the load is open: transfer
// k is due at k/R seconds and its latency counts from then, even if its lane sends it late
// (so a target that falls behind shows it in its latency, not in a slower schedule); this
// is the latency at a rate the target sustains. Then every receipt is read and must
// say status 1. The timed part runs in C (build/bench/rpc_load, --client c, the default:
// this JavaScript client took about 0.5 ms of CPU a transfer, on the cores the target
// shares) or here (--client node; always with --wait). Prints one line:
//   rpc_bench target=NAME urls=N txs=.. tps=.. p50_ms=.. p99_ms=.. max_ms=.. blocks=.. failed=..
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { ethers } = require(path.join(root, 'node_modules/ethers'));
const solc = require(path.join(root, 'node_modules/solc'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const label = arg('label', 'chain');
const urls = arg('rpc', '').split(',').filter(Boolean);
const key = arg('key');
const nSenders = Number(arg('senders', 400));
const nTxs = Number(arg('txs', 5000));
const concurrency = Number(arg('concurrency', 32));
const timeoutMs = Number(arg('timeout-s', 180)) * 1000;
// --wait: each lane waits for its transfer's receipt before it sends the next. anvil's
// automine needs it: it mines one transaction per incoming one, so a backlog of pending
// transactions is never drained once the sends stop.
const waitEach = process.argv.includes('--wait');
const rate = Number(arg('rate', 0)); // transfers a second, open loop; 0: as fast as the lanes go
const client = waitEach ? 'node' : arg('client', 'c'); // the timed part: build/bench/rpc_load, or this script
if (client !== 'c' && client !== 'node') {
  console.error(`rpc_bench: --client ${client}: use c or node`);
  process.exit(2);
}
if (!urls.length || !key) {
  console.error('usage: rpc_bench.mjs --label NAME --rpc URL[,URL...] --key 0x.. [--senders N] [--txs N] [--concurrency N]');
  process.exit(2);
}
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function fail(m) {
  console.error(`rpc_bench ${label}: FAILED: ${m}`);
  process.exit(1);
}

// Keep-alive connections, at most concurrency + 2 a URL (the subnode allows 64 a client).
let agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 2 });
function post(url, payload) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(payload);
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json',
      'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString()));
        } catch (e) {
          reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
let rpcId = 0;
async function rpc(url, method, params) {
  const body = await post(url, { jsonrpc: '2.0', id: ++rpcId, method, params });
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

// The token, as the client tests compile it.
function compileToken() {
  const source = readFileSync(path.join(root, 'tests/integration/chain/Token.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'Token.sol': { content: source } },
    settings: { evmVersion: 'cancun', optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) fail(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);
  const c = out.contracts['Token.sol'].Token;
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
}

// Waits until every hash is in a block (polling receipts of the last ones), bounded.
async function waitMined(url, hashes, ms) {
  const t0 = now();
  for (const h of hashes) {
    for (;;) {
      const r = await rpc(url, 'eth_getTransactionReceipt', [h]);
      if (r) {
        if (r.status !== '0x1') fail(`set-up transaction ${h} reverted`);
        break;
      }
      if (now() - t0 > ms) fail(`set-up transaction ${h} not mined in ${ms} ms`);
      await sleep(50);
    }
  }
}

async function main() {
  const provider = new ethers.JsonRpcProvider(urls[0], undefined, { staticNetwork: true, cacheTimeout: -1 });
  const chainId = BigInt(await rpc(urls[0], 'eth_chainId', []));
  const owner = new ethers.Wallet(key);
  const block = await provider.getBlock('latest');
  const baseFee = block.baseFeePerGas ?? 1000000000n;
  const fee = { maxFeePerGas: baseFee * 4n + 2000000000n, maxPriorityFeePerGas: 1000000000n };
  const { abi, bytecode } = compileToken();
  const token = new ethers.Interface(abi);

  // Set-up: deploy, then ETH and tokens to every sender, all from the owner in nonce order.
  let nonce = Number(await rpc(urls[0], 'eth_getTransactionCount', [owner.address, 'pending']));
  const deployData = bytecode + token.encodeDeploy([10n ** 30n]).slice(2);
  const deploy = await owner.signTransaction({ type: 2, chainId, nonce, data: deployData, gasLimit: 2000000n, ...fee });
  const tokenAddress = ethers.getCreateAddress({ from: owner.address, nonce });
  nonce++;
  const deployHash = await rpc(urls[0], 'eth_sendRawTransaction', [deploy]);
  await waitMined(urls[0], [deployHash], 60000);
  const senders = Array.from({ length: nSenders }, () => ethers.Wallet.createRandom());
  const setup = [];
  for (const s of senders) {
    setup.push(await owner.signTransaction({ type: 2, chainId, nonce: nonce++, to: s.address, value: 10n ** 17n,
      gasLimit: 21000n, ...fee }));
    setup.push(await owner.signTransaction({ type: 2, chainId, nonce: nonce++, to: tokenAddress,
      data: token.encodeFunctionData('transfer', [s.address, 10n ** 21n]), gasLimit: 100000n, ...fee }));
  }
  // One at a time: anvil's automine leaves a transaction that arrives before its
  // predecessor pending until some other transaction makes a block.
  const setupHashes = [];
  for (const raw of setup) setupHashes.push(await rpc(urls[0], 'eth_sendRawTransaction', [raw]));
  await waitMined(urls[0], setupHashes.slice(-1), 120000);
  await waitMined(urls[0], setupHashes, 120000);

  // The transfers, signed before any timing: round j of every sender, in turn.
  const perSender = Math.ceil(nTxs / nSenders);
  const jobs = [];
  for (let j = 0; j < perSender && jobs.length < nTxs; j++)
    for (let i = 0; i < nSenders && jobs.length < nTxs; i++) {
      const raw = await senders[i].signTransaction({ type: 2, chainId, nonce: j, to: tokenAddress,
        data: token.encodeFunctionData('transfer', [ethers.Wallet.createRandom().address, 1n]), gasLimit: 80000n, ...fee });
      jobs.push({ raw, hash: ethers.keccak256(raw), url: urls[i % urls.length], lane: i % concurrency, due: 0, sent: 0,
        seen: 0 });
    }
  const byHash = new Map(jobs.map((j) => [j.hash, j]));
  // Signing many takes minutes, longer than a server keeps an idle connection (the subnode:
  // 60 s): a pooled socket it closed meanwhile would fail the first send ("socket hang up").
  agent.destroy();
  agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 2 });

  let seen = 0, blocks = 0, refused = 0, late = 0, sentMs = 0, cpuBusy = -1, cpuSteal = -1, t0 = now();
  if (client === 'c') {
    // The timed part in C: the same lanes, schedule and watcher (bench/rpc_load.c).
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'rpc-load-'));
    writeFileSync(path.join(tmp, 'jobs'), jobs.map((j) => `${j.lane} ${j.url} ${j.raw} ${j.hash}\n`).join(''));
    const bin = path.join(process.env.COHORT_BUILD_DIR || path.join(root, 'build'), 'bench/rpc_load');
    let line;
    try {
      line = execFileSync(bin, ['--jobs', path.join(tmp, 'jobs'), '--watch', urls[0], '--out', path.join(tmp, 'out'),
        '--rate', String(rate), '--timeout-s', String(timeoutMs / 1000)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20 });
    } catch (e) {
      fail(`rpc_load: ${e.message}`);
    }
    const field = (k) => Number((line.match(new RegExp(`${k}=([0-9.]+)`)) || [])[1]);
    refused = field('refused');
    late = field('late_100ms');
    blocks = field('blocks');
    sentMs = field('send_s') * 1000;
    cpuBusy = field('cpu_busy');
    cpuSteal = field('cpu_steal');
    const times = readFileSync(path.join(tmp, 'out'), 'utf8').trim().split('\n');
    if (times.length !== jobs.length) fail(`rpc_load wrote ${times.length} times for ${jobs.length} transfers`);
    times.forEach((t, k) => {
      const [sent, seenAt] = t.split(' ').map(Number);
      jobs[k].sent = sent;
      jobs[k].seen = seenAt >= 0 ? seenAt : 0;
      if (seenAt >= 0) seen++;
    });
    rmSync(tmp, { recursive: true, force: true });
    t0 = 0;
  } else {
    // The watcher: new blocks on the first URL, every 20 ms.
    let head = Number(await rpc(urls[0], 'eth_blockNumber', []));
    let watching = true;
    let watchErrors = 0;
    const watcher = (async () => {
      while (watching) {
        try {
          const top = Number(await rpc(urls[0], 'eth_blockNumber', []));
          // The new blocks, up to 200 in one JSON-RPC batch (anvil's automine makes one a transfer).
          while (head < top) {
            const last = Math.min(top, head + 200);
            const calls = [];
            for (let n = head + 1; n <= last; n++)
              calls.push({ jsonrpc: '2.0', id: n, method: 'eth_getBlockByNumber', params: [`0x${n.toString(16)}`, false] });
            const replies = await post(urls[0], calls);
            const t = now();
            for (const r of replies) {
              if (r.error || !r.result) throw new Error(`eth_getBlockByNumber ${r.id}: ${r.error ? r.error.message : 'null'}`);
              let mine = 0;
              for (const h of r.result.transactions) {
                const job = byHash.get(h);
                if (job && !job.seen) {
                  job.seen = t;
                  seen++;
                  mine++;
                }
              }
              if (mine) blocks++;
            }
            head = last;
          }
        } catch (e) {
          if (++watchErrors <= 3) console.error(`rpc_bench ${label}: watcher: ${e.message}`);
        }
        if (seen === jobs.length) break;
        await sleep(20);
      }
    })();

    // The senders: `concurrency` lanes, each one request at a time; a sender's transfers all
    // go through one lane, so they arrive in nonce order.
    t0 = now();
    if (rate > 0) jobs.forEach((job, k) => { job.due = t0 + (k * 1000) / rate; });
    async function worker(lane) {
      for (const job of jobs) {
        if (job.lane !== lane) continue;
        if (rate > 0) {
          const wait = job.due - now();
          if (wait > 0) await sleep(wait);
          else if (wait < -100) late++;
        }
        job.sent = rate > 0 ? job.due : now();
        try {
          await rpc(job.url, 'eth_sendRawTransaction', [job.raw]);
          while (waitEach && !(await rpc(job.url, 'eth_getTransactionReceipt', [job.hash]))) {
            if (now() - job.sent > 60000) throw new Error(`no receipt for ${job.hash} in 60 s`);
            await sleep(5);
          }
          if (waitEach && !job.seen) {
            job.seen = now(); /* its receipt is here: mined (the watcher may lag a block behind) */
            seen++;
          }
        } catch (e) {
          refused++;
          if (refused <= 3) console.error(`rpc_bench ${label}: refused: ${e.message}`);
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)));
    sentMs = now() - t0;
    const deadline = now() + timeoutMs;
    while (seen < jobs.length && now() < deadline) await sleep(50);
    watching = false;
    await watcher;
  }
  if (seen < jobs.length) fail(`${jobs.length - seen} of ${jobs.length} transfers not in a block after ${timeoutMs} ms (${refused} refused)`);

  const lat = jobs.map((j) => j.seen - j.sent).sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  const last = Math.max(...jobs.map((j) => j.seen));
  const tps = jobs.length / ((last - t0) / 1000);

  // Every receipt: status 1 (not timed).
  let failed = 0;
  for (let i = 0; i < jobs.length; i += 100) {
    const rs = await Promise.all(jobs.slice(i, i + 100).map((j) => rpc(urls[0], 'eth_getTransactionReceipt', [j.hash])));
    failed += rs.filter((r) => !r || r.status !== '0x1').length;
  }
  console.log(`rpc_bench target=${label} client=${client} urls=${urls.length} txs=${jobs.length} senders=${nSenders} concurrency=${concurrency} wait=${waitEach} ` +
    (rate > 0 ? `rate=${rate} late_100ms=${late} ` : '') +
    `send_s=${(sentMs / 1000).toFixed(2)} tps=${tps.toFixed(0)} p50_ms=${pct(0.5).toFixed(0)} p99_ms=${pct(0.99).toFixed(0)} ` +
    `max_ms=${lat[lat.length - 1].toFixed(0)} blocks=${blocks} refused=${refused} failed=${failed}` +
    (cpuBusy >= 0 ? ` cpu_busy_pct=${cpuBusy.toFixed(1)}` : '') +
    (cpuSteal >= 0 ? ` cpu_steal_pct=${cpuSteal.toFixed(1)}` : ''));
  provider.destroy();
  agent.destroy();
  if (failed || refused) process.exit(1);
}

main().catch((e) => fail(e.stack || e.message));
