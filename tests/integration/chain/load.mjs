// load.mjs - a client that sends transfers and keeps every receipt it gets, then checks
// them after a crash (test_chain_clients.c "receipts_survive_a_sigkill_under_load").
//
//   node load.mjs send   --rpc URL --key 0x.. --out FILE --seconds N
//   node load.mjs verify --rpc URL --out FILE
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
const provider = new ethers.JsonRpcProvider(arg('rpc'), undefined, { pollingInterval: 50, staticNetwork: true });

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

(mode === 'send' ? send() : verify()).then(() => process.exit(0), (e) => {
  console.error(`load: FAILED: ${e.message}`);
  process.exit(1);
});
