// chain-faults.mjs - faults against a devnet chain whose subnodes cohort-core runs as
// containers (scripts/devnet.sh --faults runs it): under a load of transfers,
//   1. one member's container is killed: the chain keeps making blocks; cohort-core starts
//      the subnode again and it catches up to the same block hashes;
//   2. two members are down (their cohort-cores paused so nothing restarts them): no block
//      is made and nothing forks; back, the blocks resume and the waiting transaction goes in;
//   3. every member's container is killed: restarted, every receipt a client got before is
//      still there, in the same block;
//   4. member 3's subnode is replaced by a Byzantine one (the same volume, so the same key and
//      certificate; the image COHORT_BYZANTINE_IMAGE: it equivocates when it leads, names
//      wrong heads and sends garbage frames): the others go on making blocks and name it;
//      then cohort-core's honest subnode comes back and catches up to the same hashes;
//   5. member 2's volume is wiped whole (its container and volume removed): cohort-core makes
//      both again, with the subnode's key from its state dir, and the subnode rejoins (it
//      signs nothing until a block carries its rejoin entry) and catches up to the same hashes.
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
  // A paused cohort-core would never stop at the teardown: let them all go first.
  for (const pid of corePids) try { process.kill(Number(pid), 'SIGCONT'); } catch {}
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

// The promise's value, or a throw after ms.
function within(ms, promise) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

// A load: one sender, transfers to the members given (0 and 1 by default) in turn, every receipt kept.
const receipts = [];
let loading = true;
async function load(to = [0, 1]) {
  const wallet = new ethers.Wallet(key, providers[0]);
  const fee = await providers[0].getFeeData();
  let nonce = await providers[0].getTransactionCount(wallet.address, 'pending');
  let k = 0;
  while (loading) {
    const p = providers[to[k++ % to.length]];
    try {
      // Bounded: a request cut off by a kill must not hold the load past the step.
      const r = await within(30000, (async () => {
        const signed = await wallet.signTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce,
          gasLimit: 21000n, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
          chainId: (await p.getNetwork()).chainId, type: 2 });
        const tx = await p.broadcastTransaction(signed);
        return tx.wait(1, 20000);
      })());
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

  const byzantine = process.env.COHORT_BYZANTINE_IMAGE;
  if (!byzantine) fail('COHORT_BYZANTINE_IMAGE is not set (scripts/devnet.sh --faults builds it)');
  say(`4. member 3's subnode replaced by a Byzantine one (${byzantine}), its cohort-core paused`);
  process.kill(all[3].core, 'SIGSTOP');
  try {
    // The same container as cohort-core made it (labels, volume, command, limits), but the image.
    const c = JSON.parse(run('docker', ['inspect', all[3].name]))[0];
    const volume = c.Mounts.find((m) => m.Destination === '/data').Name;
    const labels = Object.entries(c.Config.Labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    run('docker', ['rm', '-f', all[3].name]);
    run('docker', ['run', '-d', '--name', all[3].name, '--network', 'host', '--user', c.Config.User, '--read-only',
      '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--memory', String(c.HostConfig.Memory),
      '--mount', `type=volume,src=${volume},dst=/data`, ...labels, byzantine, ...c.Config.Cmd]);
    const status = async (i) => { try { return JSON.stringify(await (await fetch(`${all[i].url}/status`)).json()); } catch { return ''; } };
    // Its lies travel in its batches: it gets transactions too, so it makes some.
    loading = true;
    const loader3 = load([0, 1, 3]);
    const start = (await head(0)).number;
    const seen = (s) => s.includes('"halted":false') && /"members_disagreeing":\[[0-9,]*3[0-9,]*\]/.test(s) &&
      /"messages_refused":[1-9]/.test(s);
    let liar = '', honest = [];
    for (let t = 0; t < 300; t++) { // bounded: 300 x 200 ms
      await sleep(200);
      liar = await status(3);
      honest = await Promise.all([0, 1, 2].map(status));
      if (/"proposals_equivocated":[1-9]/.test(liar) && /"garbage_sent":[1-9]/.test(liar) && honest.every(seen) &&
          (await head(0)).number >= start + 8) break;
    }
    loading = false;
    await loader3;
    const height = await converge([0, 1, 2], start + 8, 60000);
    const excerpt = (s) => (s.match(/"chain":\{.*$/) || [s])[0].slice(0, 900);
    honest.forEach((s, i) => {
      if (!s.includes('"halted":false')) fail(`honest member ${i} halted with a Byzantine member: ${excerpt(s)}`);
      if (!/"members_disagreeing":\[[0-9,]*3[0-9,]*\]/.test(s)) fail(`honest member ${i} does not name member 3: ${excerpt(s)}`);
      if (!/"messages_refused":[1-9]/.test(s)) fail(`honest member ${i} refused none of member 3's garbage: ${excerpt(s)}`);
    });
    if (!/"proposals_equivocated":[1-9]/.test(liar)) fail(`member 3 never equivocated (it did not lead?): ${excerpt(liar)}`);
    if (!/"garbage_sent":[1-9]/.test(liar)) fail(`member 3 sent no garbage: ${excerpt(liar)}`);
    say(`   the honest three went on from ${start} to ${height}, named member 3, refused its garbage; it equivocated`);
    run('docker', ['rm', '-f', all[3].name]);
  } finally {
    try { process.kill(all[3].core, 'SIGCONT'); } catch {}
  }
  // cohort-core makes its own container again (the same volume): it catches up.
  const latest = (await head(0)).number;
  h = await converge([0, 1, 2, 3], latest, 180000);
  say(`   member 3 honest again (cohort-core's container): all four agree at ${h}`);

  say(`5. member 2's volume wiped whole (${all[2].name}), its cohort-core paused meanwhile`);
  process.kill(all[2].core, 'SIGSTOP');
  try {
    const c = JSON.parse(run('docker', ['inspect', all[2].name]))[0];
    const volume = c.Mounts.find((m) => m.Destination === '/data').Name;
    run('docker', ['rm', '-f', all[2].name]);
    run('docker', ['volume', 'rm', volume]);
  } finally {
    process.kill(all[2].core, 'SIGCONT');
  }
  loading = true;
  const loader5 = load();
  await sleep(5000);
  loading = false;
  await loader5;
  const wiped = (await head(0)).number;
  h = await converge([0, 1, 2, 3], wiped, 180000);
  let back = null;
  for (let t = 0; t < 150 && !/"rejoin":\{"waiting":false,"vote_from":[1-9]/.test(back || ''); t++) {
    await sleep(200);
    try { back = JSON.stringify(await (await fetch(`${all[2].url}/status`)).json()); } catch {}
  }
  if (!/"rejoin":\{"waiting":false,"vote_from":[1-9]/.test(back || '')) fail(`member 2 did not rejoin after its volume was wiped: ${back}`);
  say(`   member 2 came back with its key, rejoined (${back.match(/"rejoin":\{[^}]*\}/)[0]}), all four agree at ${h}`);
  for (const p of providers) p.destroy();
  console.log('faults: all passed');
}

// The members are killed with requests in flight. Once in CI (step 3) a reset connection to a
// killed member came out of Node's http client as an uncaught 'socket hang up': some request
// of ethers 6.17 had no 'error' listener (which one is not known). The call that made it fails
// or times out on its own and load() moves on, so such connection errors are only logged here;
// anything else uncaught fails the test.
const dropped = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE']);
process.on('uncaughtException', (e) => {
  if (e && dropped.has(e.code)) { say(`   (a request to a killed member ended: ${e.code} ${e.message})`); return; }
  fail(`uncaught: ${(e && e.stack) || e}`);
});
main().then(() => process.exit(0), (e) => fail(e.message));
