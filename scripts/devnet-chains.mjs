// devnet-chains.mjs - after scripts/devnet.sh made its chains: writes DIR/chains.json for
// scripts and prints, for each chain, its name, EVM chain id, every member's RPC and
// WebSocket URL, and the funded key, with an example.
//
//   node scripts/devnet-chains.mjs COHORT_BINARY DIR FUNDED_KEY [--check CAST_BINARY]
//
// --check: every member answers eth_chainId with the chain's id; on the first member of
// each chain a cast send moves funds that cast balance then shows, and every other member
// has the block it went into with the same hash; exits 1 if not.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [cohort, dir, key] = process.argv.slice(2, 5);
const checkIndex = process.argv.indexOf('--check');
const cast = checkIndex > 0 ? process.argv[checkIndex + 1] : null;
const run = (bin, args) => execFileSync(bin, args, { encoding: 'utf8', timeout: 60000 }).trim();
const asRows = (text) => {
  const j = JSON.parse(text);
  return Array.isArray(j) ? j : j.rows || j.items || [];
};

const chains = asRows(run(cohort, ['--json', 'chain', 'ls'])).map((c) => {
  const members = asRows(run(cohort, ['--json', 'chain', 'show', String(c.name)]));
  const hosts = members.map((m) => String(m.endpoint));
  return {
    name: String(c.name),
    evm_chain_id: Number(c.evm_chain_id),
    rpc: hosts.map((h) => `http://${h}`),
    ws: hosts.map((h) => `ws://${h}`),
    funded_private_key: key,
  };
});
writeFileSync(`${dir}/chains.json`, JSON.stringify(chains, null, 2) + '\n');

if (cast) {
  let failed = false;
  for (const c of chains) {
    for (const url of c.rpc) {
      const id = run(cast, ['chain-id', '--rpc-url', url]);
      if (id !== String(c.evm_chain_id)) {
        console.error(`devnet: ${c.name} at ${url} answers chain id ${id}, want ${c.evm_chain_id}`);
        failed = true;
      }
    }
    const to = '0x000000000000000000000000000000000000c0de';
    const before = BigInt(run(cast, ['balance', '--rpc-url', c.rpc[0], to]));
    const receipt = JSON.parse(run(cast, ['send', '--rpc-url', c.rpc[0], '--private-key', key, to, '--value', '12345', '--json']));
    const after = BigInt(run(cast, ['balance', '--rpc-url', c.rpc[0], to]));
    if (after - before !== 12345n) {
      console.error(`devnet: ${c.name}: cast send of 12345 wei moved ${after - before}`);
      failed = true;
    }
    // Every member has that block, with the same hash: one chain, not one per member.
    const number = BigInt(receipt.blockNumber).toString();
    for (const url of c.rpc.slice(1)) {
      let hash = '';
      for (let i = 0; i < 100 && !hash; i++) {
        try {
          hash = JSON.parse(run(cast, ['block', '--rpc-url', url, number, '--json'])).hash;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (hash !== receipt.blockHash) {
        console.error(`devnet: ${c.name}: block ${number} is ${receipt.blockHash} at ${c.rpc[0]} and ${hash || 'missing'} at ${url}`);
        failed = true;
      }
    }
  }
  if (failed) process.exit(1);
  console.log(`devnet: every member of ${chains.length} chains answers its chain id; cast send and balance work; the members agree on the blocks`);
} else {
  for (const c of chains) {
    console.log(`chain ${c.name}: EVM chain id ${c.evm_chain_id}`);
    c.rpc.forEach((u, i) => console.log(`  member ${i + 1}: ${u}  (WebSocket ${c.ws[i]})`));
  }
  const c = chains[0];
  if (c) {
    console.log(`\nFunded key (the chains' owner): ${key}`);
    console.log('Try:');
    console.log(`  node_modules/.bin/cast send --rpc-url ${c.rpc[0]} --private-key ${key} 0x000000000000000000000000000000000000dEaD --value 1ether`);
    console.log(`  node_modules/.bin/cast balance --rpc-url ${c.rpc[0]} 0x000000000000000000000000000000000000dEaD`);
    console.log(`The same as JSON, for scripts: ${dir}/chains.json`);
  }
}
