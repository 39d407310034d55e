// load.mjs - a client that sends transfers and keeps every receipt it gets, then checks
// them after a crash (test_chain_clients.c "receipts_survive_a_sigkill_under_load").
//
//   node load.mjs send   --rpc URL --key 0x.. --out FILE --seconds N
//   node load.mjs verify --rpc URL --out FILE
//   node load.mjs fill   --rpc URL --key 0x..
//   node load.mjs burst  --rpc URL --key 0x.. --count N
//   node load.mjs nonce  --rpc URL --key 0x.. --want N
//   node load.mjs slots  --rpc URL --key 0x.. --count N
//   node load.mjs blocks --rpc URL --key 0x.. --count N
//
// fill: sends transactions of 100 KB of calldata, one at a time, until the node refuses
// one; passes when the refusal says the chain's disk budget is (nearly) used.
// burst: sends N transfers with consecutive nonces from the pending one, without waiting.
// nonce: waits (up to 60 s) until the key's mined nonce is N; fails if it passes N.
// blocks: N transfers one after another, each sent when the last one's receipt is there
// (polled, not tx.wait(), which waits for a block after its own start): about N blocks.
// slots: deploys a contract that stores its calldata's second word at its first, writes
// slots 1..N (and clears slot 1 again), waits for every receipt; prints the address.
//
// send: 16 transfers in flight from one key, for N seconds or until killed; each receipt
// (hash, blockHash, blockNumber) is appended to FILE as a JSON line the moment it arrives.
// verify: every receipt in FILE must be there, in the same block (same hash).
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const { ethers } = require(path.join(root, 'node_modules/ethers'));

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}
const mode = process.argv[2];
// cacheTimeout -1: ethers otherwise answers a repeated call within 250 ms from its cache, and a
// transaction sent right after the last one's receipt (a block under 250 ms) reused its nonce.
const provider = new ethers.JsonRpcProvider(arg('rpc'), undefined, { pollingInterval: 50, staticNetwork: true, cacheTimeout: -1 });

async function send() {
  const wallet = new ethers.Wallet(arg('key'), provider);
  const out = arg('out');
  const until = Date.now() + 1000 * Number(arg('seconds') || 30);
  let nonce = await provider.getTransactionCount(wallet.address, 'pending');
  const fee = await provider.getFeeData();
  let kept = 0;
  const worker = async () => {
    while (Date.now() < until) {
      const n = nonce++;
      try {
        const tx = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce: n,
          gasLimit: 21000n, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas });
        const r = await tx.wait();
        appendFileSync(out, JSON.stringify({ hash: r.hash, blockHash: r.blockHash, blockNumber: r.blockNumber }) + '\n');
        kept++;
      } catch (e) {
        // The node died: stop, the receipts written so far are the record.
        console.log(`load: stopped after ${kept} receipts: ${e.shortMessage || e.message}`);
        process.exit(0);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(`load: ${kept} receipts`);
}

async function verify() {
  const lines = readFileSync(arg('out'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  if (lines.length < 10) throw new Error(`only ${lines.length} receipts were written before the kill: the load did not run`);
  let ok = 0;
  for (const want of lines) {
    const got = await provider.getTransactionReceipt(want.hash);
    if (!got) throw new Error(`the receipt of ${want.hash} (block ${want.blockNumber}) is gone after the restart`);
    if (got.blockHash !== want.blockHash)
      throw new Error(`${want.hash} was in block ${want.blockHash}, now in ${got.blockHash}`);
    ok++;
  }
  console.log(`load: all ${ok} receipts returned before the kill are there, in the same blocks`);
}

async function fill() {
  const wallet = new ethers.Wallet(arg('key'), provider);
  const fee = await provider.getFeeData();
  const data = '0x' + '5a'.repeat(100 * 1024);
  for (let i = 0; i < 500; i++) {
    try {
      const tx = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, data, gasLimit: 2000000n,
        maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas });
      await tx.wait();
    } catch (e) {
      const msg = (e.error && e.error.message) || e.shortMessage || e.message;
      if (!msg.includes('disk budget')) throw new Error(`after ${i} transactions a refusal that does not name the budget: ${msg}`);
      console.log(`load: after ${i} transactions of 100 KB: "${msg}"`);
      return;
    }
  }
  throw new Error('500 transactions of 100 KB went in: the disk budget was not enforced');
}

async function burst() {
  const wallet = new ethers.Wallet(arg('key'), provider);
  const fee = await provider.getFeeData();
  const start = await provider.getTransactionCount(wallet.address, 'pending');
  const count = Number(arg('count'));
  const sent = [];
  for (let i = 0; i < count; i++) {
    sent.push(wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce: start + i,
      gasLimit: 21000n, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas }));
  }
  await Promise.all(sent);
  console.log(`load: ${count} transactions sent from nonce ${start}`);
}

async function nonce() {
  const wallet = new ethers.Wallet(arg('key'));
  const want = Number(arg('want'));
  let got = -1;
  for (let i = 0; i < 600; i++) {
    got = await provider.getTransactionCount(wallet.address, 'latest');
    if (got === want) return;
    if (got > want) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the nonce of ${wallet.address} is ${got}, want ${want}`);
}

// Runtime: SSTORE(calldata[0:32], calldata[32:64]); STOP. The init code returns it.
const STORE_INIT = '0x' + '67' + '6020356000355500' + '600052' + '6008' + '6018' + 'f3';

async function slots() {
  const wallet = new ethers.Wallet(arg('key'), provider);
  const fee = await provider.getFeeData();
  const count = Number(arg('count'));
  const opts = { maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas };
  let nonce = await provider.getTransactionCount(wallet.address, 'pending');
  const deploy = await wallet.sendTransaction({ data: STORE_INIT, gasLimit: 100000n, nonce: nonce++, ...opts });
  const created = await deploy.wait();
  if (created.status !== 1 || !created.contractAddress) throw new Error('the storing contract was not deployed');
  const at = created.contractAddress;
  const word = (v) => ethers.zeroPadValue(ethers.toBeHex(v), 32).slice(2);
  const sent = [];
  for (let i = 1; i <= count; i++)
    sent.push(await wallet.sendTransaction({ to: at, data: '0x' + word(i) + word(1000 + i), gasLimit: 60000n,
      nonce: nonce++, ...opts }));
  sent.push(await wallet.sendTransaction({ to: at, data: '0x' + word(1) + word(0), gasLimit: 60000n, nonce: nonce++,
    ...opts }));
  for (const tx of sent) if ((await tx.wait()).status !== 1) throw new Error(`${tx.hash} failed`);
  const got = await provider.getStorage(at, count);
  if (BigInt(got) !== BigInt(1000 + count)) throw new Error(`slot ${count} holds ${got}`);
  console.log(`load: ${at} holds ${count - 1} slots`);
}

async function blocks() {
  const wallet = new ethers.Wallet(arg('key'), provider);
  const fee = await provider.getFeeData();
  const count = Number(arg('count'));
  let nonce = await provider.getTransactionCount(wallet.address, 'pending');
  for (let i = 0; i < count; i++) {
    const tx = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce: nonce++,
      gasLimit: 21000n, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas });
    for (let t = 0; ; t++) {
      if (await provider.getTransactionReceipt(tx.hash)) break;
      if (t > 1500) throw new Error(`no receipt for ${tx.hash} after 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  console.log(`load: ${count} transfers, one block each`);
}

const modes = { send, verify, fill, burst, nonce, slots, blocks };
modes[mode]().then(() => process.exit(0), (e) => {
  console.error(`load: FAILED: ${e.message}`);
  process.exit(1);
});
