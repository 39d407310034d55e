// chain-faults.mjs - faults against a devnet chain whose subnodes cohort-core runs as
// containers (scripts/devnet.sh --faults runs it): under a load of transfers,
//   1. one member's container is killed: the chain keeps making blocks; cohort-core starts
//      the subnode again and it catches up to the same block hashes;
//   2. two members are down (their cohort-cores paused so nothing restarts them): no block
//      is made and nothing forks; back, the blocks resume and the waiting transaction goes in;
//   3. every member's container is killed: restarted, every receipt a client got before is
//      still there, in the same block.
// Only the containers of this devnet's cohort-cores (found through their APIs) and the
// cohort-core processes it names are touched.
//
//   node scripts/chain-faults.mjs COHORT DIR API_BASE CHAIN KEY CORE_PID...
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { ethers } = require(path.join(root, 'node_modules/ethers'));

const [cohort, dir, apiBase, chainName, key, ...corePids] = process.argv.slice(2);
const run = (bin, args) => execFileSync(bin, args, { encoding: 'utf8', timeout: 60000 }).trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (m) => console.log(`faults: ${m}`);
let all = [];
function fail(m) {
  // Each member's subnode log goes beside the cohort-cores' (the containers go at teardown).
  for (const member of all.filter((x) => x.name)) {
    const out = spawnSync('docker', ['logs', '--tail', '2000', member.name], { encoding: 'utf8', timeout: 20000 });
    try { fs.writeFileSync(path.join(dir, `${member.name}.log`), `${out.stdout || ''}${out.stderr || ''}`); } catch {}
  }
  console.error(`faults: FAILED: ${m} (logs in ${dir})`);
  process.exit(1);
}

// The chain's members, in the manager's order, and each one's container and cohort-core.
const members = JSON.parse(run(cohort, ['--json', 'chain', 'show', chainName]));
const containers = {};
corePids.forEach((pid, i) => {
  const api = `http://127.0.0.1:${Number(apiBase) + i + 1}`;
  for (const s of JSON.parse(run(cohort, ['--json', 'subnodes', '--api', api])))
    if (s.chain === chainName) containers[s.rpc_port] = { name: s.container, core: Number(pid) };
});
all = members.map((m) => ({
  url: `http://${m.endpoint}`,
  ...containers[m.rpc_port],
}));
if (all.some((m) => !m.name)) fail(`not every member of ${chainName} has a container on this devnet`);
const providers = all.map((m) => new ethers.JsonRpcProvider(m.url, undefined, { staticNetwork: true, cacheTimeout: -1 }));

async function head(i) {
  try {
    const b = await providers[i].getBlock('latest');
    return { number: b.number, hash: b.hash };
  } catch {
    return null;
  }
}

// Waits until the members listed agree on one head at or above min; bounded.
async function converge(list, min, ms) {
  for (let t = 0; t < ms / 200; t++) {
    const heads = await Promise.all(list.map(head));
    if (heads.every((h) => h && h.number >= min && h.number === heads[0].number && h.hash === heads[0].hash))
      return heads[0].number;
    await sleep(200);
  }
  const heads = await Promise.all(list.map(head));
  fail(`members ${list} did not agree on a head >= ${min}: ${JSON.stringify(heads)}`);
}

// A load: one sender, transfers to member 0 and 1 in turn, every receipt kept.
const receipts = [];
let loading = true;
async function load() {
  const wallet = new ethers.Wallet(key, providers[0]);
  const fee = await providers[0].getFeeData();
  let nonce = await providers[0].getTransactionCount(wallet.address, 'pending');
  let k = 0;
  while (loading) {
    const p = providers[k++ % 2];
    try {
      const signed = await wallet.signTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce,
        gasLimit: 21000n, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
        chainId: (await p.getNetwork()).chainId, type: 2 });
      const tx = await p.broadcastTransaction(signed);
      const r = await tx.wait(1, 20000);
      receipts.push({ hash: r.hash, blockHash: r.blockHash });
      nonce++;
    } catch {
      await sleep(200); // the member is down: the same nonce again, elsewhere
    }
  }
}

async function main() {
  const n = all.length;
  if (n !== 4) fail(`the fault test wants a chain of 4 members, ${chainName} has ${n}`);
  const loader = load();
  await sleep(3000);
  let h = await converge([0, 1, 2, 3], 1, 30000);

  say(`1. kill member 3's container (${all[3].name})`);
  run('docker', ['kill', all[3].name]);
  const before = (await head(0)).number;
  await sleep(4000);
  const after = (await head(0)).number;
  if (after <= before) fail(`no block in 4 s with one member down (height ${before})`);
  h = await converge([0, 1, 2, 3], after, 90000);
  say(`   the chain went on (height ${before} -> ${after}); member 3 is back, all agree at ${h}`);

  say('2. members 2 and 3 down, their cohort-cores paused');
  loading = false;
  await loader;
  process.kill(all[2].core, 'SIGSTOP');
  process.kill(all[3].core, 'SIGSTOP');
  try {
    run('docker', ['kill', all[2].name]);
    run('docker', ['kill', all[3].name]);
    const stuck = await converge([0, 1], 0, 10000);
    const wallet = new ethers.Wallet(key, providers[0]);
    const tx = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n });
    await sleep(4000);
    const now = await Promise.all([head(0), head(1)]);
    if (now[0].number !== stuck || now[1].number !== stuck) fail(`a block was made with two of four members down: ${JSON.stringify(now)}`);
    say(`   no block for 4 s at height ${stuck}`);
    process.kill(all[2].core, 'SIGCONT');
    process.kill(all[3].core, 'SIGCONT');
    const r = await tx.wait(1, 120000);
    if (!r || r.status !== 1) fail('the transaction sent while two members were down was not mined after they came back');
    h = await converge([0, 1, 2, 3], stuck + 1, 120000);
    say(`   back: the waiting transaction is in block ${r.blockNumber}; all agree at ${h}`);
  } finally {
    try { process.kill(all[2].core, 'SIGCONT'); process.kill(all[3].core, 'SIGCONT'); } catch {}
  }

  say('3. every member killed under load');
  loading = true;
  const loader2 = load();
  await sleep(4000);
  const kept = receipts.length;
  for (const m of all) run('docker', ['kill', m.name]);
  await sleep(1000);
  loading = false;
  await loader2;
  h = await converge([0, 1, 2, 3], 1, 180000);
  for (const want of receipts.slice(0, kept)) {
    const got = await providers[2].getTransactionReceipt(want.hash);
    if (!got || got.blockHash !== want.blockHash) fail(`the receipt of ${want.hash} is ${got ? 'in another block' : 'gone'} after every member was killed`);
  }
  say(`   all ${kept} receipts returned before the kill are there, in the same blocks; all agree at ${h}`);
  for (const p of providers) p.destroy();
  console.log('faults: all passed');
}

main().then(() => process.exit(0), (e) => fail(e.message));
