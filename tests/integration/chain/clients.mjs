// clients.mjs - real Ethereum clients against a running cohort chain: ethers v6 over
// HTTP and WebSocket, and cast. Every step asserts; the first failure exits non-zero with
// what was expected and what came back.
//
//   node clients.mjs --rpc URL --ws URL --key 0xPRIVATE --chain-id N --cast PATH
//
// The key must be funded in the chain's genesis.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const { ethers } = require(path.join(root, 'node_modules/ethers'));
const solc = require(path.join(root, 'node_modules/solc'));

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`clients.mjs: --${name} is required`);
  return process.argv[i + 1];
}
const rpcUrl = arg('rpc');
const wsUrl = arg('ws');
const key = arg('key');
const chainId = BigInt(arg('chain-id'));
const castPath = arg('cast');

let step = '';
function check(cond, what) {
  if (!cond) throw new Error(`${step}: ${what}`);
}
function js(x) {
  return JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
}
function log(msg) {
  console.log(`clients: ${msg}`);
}
async function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${step}: timed out after ${ms} ms waiting for ${what}`)), ms); });
  try { return await Promise.race([promise, t]); } finally { clearTimeout(timer); }
}

function compile() {
  const source = readFileSync(path.join(here, 'Token.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'Token.sol': { content: source } },
    settings: { evmVersion: 'cancun', optimizer: { enabled: true, runs: 200 }, outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);
  const c = out.contracts['Token.sol'].Token;
  return { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
}

function cast(...args) {
  return execFileSync(castPath, args, { encoding: 'utf8', timeout: 60000 }).trim();
}

async function main() {
  // cacheTimeout -1: ethers v6 answers identical requests made within 250 ms from a cache, so
  // on a chain whose blocks come faster than that (as on anvil) a wallet sending again right
  // after a receipt would reuse its nonce (docs/dapp-developers.md).
  const provider = new ethers.JsonRpcProvider(rpcUrl, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  const wallet = new ethers.Wallet(key, provider);

  step = 'network';
  const net = await provider.getNetwork();
  check(net.chainId === chainId, `chain id ${net.chainId}, want ${chainId}`);
  const funded = await provider.getBalance(wallet.address);
  check(funded > 10n ** 18n, `the key's balance is ${funded}, want more than 1 ether`);
  log(`chain ${net.chainId}, ${wallet.address} holds ${ethers.formatEther(funded)}`);

  step = 'deploy';
  const { abi, bytecode } = compile();
  const factory = new ethers.ContractFactory(abi, bytecode, wallet);
  const supply = 10n ** 24n;
  const token = await factory.deploy(supply);
  const deployReceipt = await withTimeout(token.deploymentTransaction().wait(), 20000, 'the deployment receipt');
  check(deployReceipt.status === 1, 'deployment status');
  const tokenAddress = await token.getAddress();
  check(deployReceipt.contractAddress === tokenAddress, `receipt contractAddress ${deployReceipt.contractAddress}, want ${tokenAddress}`);
  const code = await provider.getCode(tokenAddress);
  check(code.length > 100, 'deployed code is empty');
  check((await token.totalSupply()) === supply, 'totalSupply');
  log(`Token deployed at ${tokenAddress} in block ${deployReceipt.blockNumber}`);

  step = 'erc20 transfers and old blocks';
  const fresh = [ethers.Wallet.createRandom().address, ethers.Wallet.createRandom().address, ethers.Wallet.createRandom().address];
  const firstTx = await token.transfer(fresh[0], 1000n);
  const firstReceipt = await firstTx.wait();
  check(firstReceipt.status === 1, 'transfer status');
  const afterFirst = firstReceipt.blockNumber;
  const secondReceipt = await (await token.transfer(fresh[0], 500n)).wait();
  check(secondReceipt.blockNumber > afterFirst, 'the second transfer is in a later block');
  check((await token.balanceOf(fresh[0])) === 1500n, 'balance after two transfers');
  check((await token.balanceOf(fresh[0], { blockTag: afterFirst })) === 1000n, 'balanceOf at the first transfer\'s block');
  check((await token.balanceOf(fresh[0], { blockTag: afterFirst - 1 })) === 0n, 'balanceOf before the first transfer');
  const ethBefore = await provider.getBalance(wallet.address, afterFirst - 1);
  const ethAfter = await provider.getBalance(wallet.address, afterFirst);
  check(ethBefore > ethAfter, 'eth_getBalance at an old block shows the fee paid');
  const logs = await provider.getLogs({ address: tokenAddress, topics: [token.interface.getEvent('Transfer').topicHash, null, ethers.zeroPadValue(fresh[0], 32)], fromBlock: 0, toBlock: 'latest' });
  check(logs.length === 2, `getLogs found ${logs.length} Transfer logs to ${fresh[0]}, want 2`);
  log('ERC-20 transfers, old-block reads and getLogs work');

  step = 'estimateGas';
  const estimate = await token.transfer.estimateGas(fresh[1], 777n);
  const estReceipt = await (await token.transfer(fresh[1], 777n, { gasLimit: estimate })).wait();
  const used = estReceipt.gasUsed;
  const diff = estimate > used ? estimate - used : used - estimate;
  check(diff * 100n <= used, `estimate ${estimate} is not within 1% of the ${used} used`);
  log(`estimateGas ${estimate}, used ${used}`);

  step = 'custom error and reason string from eth_call';
  const poor = ethers.Wallet.createRandom().connect(provider);
  try {
    await token.connect(poor).transfer.staticCall(fresh[2], 5n);
    check(false, 'a transfer without balance did not revert');
  } catch (e) {
    check(e.code === 'CALL_EXCEPTION', `error code ${e.code}`);
    check(e.revert && e.revert.name === 'InsufficientBalance', `decoded revert ${js(e.revert)}`);
    check(e.revert.args[0] === 0n && e.revert.args[1] === 5n, 'custom error arguments');
  }
  try {
    await token.fail.staticCall('boom');
    check(false, 'fail() did not revert');
  } catch (e) {
    check(e.code === 'CALL_EXCEPTION', `error code ${e.code}`);
    check(e.reason === 'boom', `reason ${e.reason}`);
  }

  step = 'a mined transaction that reverts';
  const bad = await token.transfer(fresh[2], supply * 2n, { gasLimit: 100000n });
  let minedReceipt = null;
  try {
    await bad.wait();
    check(false, 'a reverting transaction was mined with status 1');
  } catch (e) {
    check(e.code === 'CALL_EXCEPTION', `wait() error code ${e.code}`);
    minedReceipt = e.receipt;
  }
  check(minedReceipt && minedReceipt.status === 0, 'the failed transaction has a receipt with status 0');
  try {
    await provider.call({ to: tokenAddress, from: wallet.address, data: bad.data, blockTag: minedReceipt.blockNumber - 1 });
    check(false, 'replaying the failed transaction did not revert');
  } catch (e) {
    const parsed = token.interface.parseError(e.data);
    check(parsed && parsed.name === 'InsufficientBalance', `replayed revert data ${e.data}`);
  }
  log('custom errors and reason strings decode from eth_call and from a mined transaction');

  step = 'filters';
  const filterId = await provider.send('eth_newFilter', [{ address: tokenAddress, fromBlock: 'latest' }]);
  const blockFilter = await provider.send('eth_newBlockFilter', []);
  await (await token.transfer(fresh[1], 1n)).wait();
  const changes = await provider.send('eth_getFilterChanges', [filterId]);
  check(Array.isArray(changes) && changes.length >= 1, `eth_getFilterChanges gave ${js(changes)}`);
  const blocks = await provider.send('eth_getFilterChanges', [blockFilter]);
  check(Array.isArray(blocks) && blocks.length >= 1, 'the block filter saw no block');
  check((await provider.send('eth_uninstallFilter', [filterId])) === true, 'uninstall');

  step = 'subscriptions over WebSocket';
  const ws = new ethers.WebSocketProvider(wsUrl);
  const wsToken = token.connect(ws);
  const gotBlock = new Promise((resolve) => ws.once('block', resolve));
  const gotEvent = new Promise((resolve) => wsToken.once('Transfer', (from, to, value) => resolve({ from, to, value })));
  await new Promise((r) => setTimeout(r, 300));
  await (await token.transfer(fresh[2], 42n)).wait();
  const n = await withTimeout(gotBlock, 10000, 'a newHeads notification');
  check(typeof n === 'number' && n > 0, `newHeads gave ${n}`);
  const ev = await withTimeout(gotEvent, 10000, 'a Transfer log notification');
  check(ev.to === fresh[2] && ev.value === 42n, `the Transfer event ${js(ev)}`);
  // Unsubscribe before closing: a request still pending when the socket goes rejects.
  await wsToken.removeAllListeners();
  await ws.removeAllListeners();
  await new Promise((r) => setTimeout(r, 300));
  ws.destroy();
  log('filters and WebSocket subscriptions work');

  step = '200 transactions from one sender without waiting';
  const sink = ethers.Wallet.createRandom().address;
  const startNonce = await provider.getTransactionCount(wallet.address, 'pending');
  const feeData = await provider.getFeeData();
  const sent = [];
  for (let i = 0; i < 200; i++) {
    sent.push(wallet.sendTransaction({ to: sink, value: 1n, nonce: startNonce + i, gasLimit: 21000n,
      maxFeePerGas: feeData.maxFeePerGas, maxPriorityFeePerGas: feeData.maxPriorityFeePerGas }));
  }
  const txs = await Promise.all(sent);
  const receipts = await withTimeout(Promise.all(txs.map((t) => t.wait())), 60000, '200 receipts');
  check(receipts.every((r) => r.status === 1), 'a transaction of the 200 failed');
  check((await provider.getBalance(sink)) === 200n, 'the sink did not receive 200 wei');
  check((await provider.getTransactionCount(wallet.address)) === startNonce + 200, 'nonce after 200');
  log(`200 transactions in blocks ${receipts[0].blockNumber}..${receipts[199].blockNumber}`);

  step = 'transactions the pool refuses';
  async function refused(raw, words) {
    try {
      await provider.send('eth_sendRawTransaction', [raw]);
      check(false, `a transaction was accepted; want "${words}"`);
    } catch (e) {
      const msg = (e.error && e.error.message) || e.message;
      check(msg.includes(words), `refusal "${msg}", want "${words}"`);
    }
  }
  const base = { to: sink, value: 1n, gasLimit: 21000n, maxFeePerGas: feeData.maxFeePerGas, maxPriorityFeePerGas: feeData.maxPriorityFeePerGas, type: 2 };
  const nonceNow = await provider.getTransactionCount(wallet.address, 'pending');
  await refused(await wallet.signTransaction({ ...base, chainId: chainId + 1n, nonce: nonceNow }), 'chain id');
  await refused(await wallet.signTransaction({ ...base, chainId, nonce: 0 }), 'nonce too low');
  const poorTx = await poor.signTransaction({ ...base, chainId, nonce: 0 });
  await refused(poorTx, 'insufficient funds');
  // A transaction at the 128 KiB cap goes in; one byte of data more is refused.
  const capData = (n) => '0x' + '01'.repeat(n);
  const sizeOf = async (n) => ethers.getBytes(await wallet.signTransaction({ ...base, chainId, nonce: nonceNow, gasLimit: 3000000n, data: capData(n) })).length;
  // A signature's r and s lose their leading zero bytes in RLP, so the size of a signed
  // transaction moves by a byte or two with its data: step until it is exactly the cap
  // (signing is deterministic, so the same data signs to the same size again). The first
  // guess can itself be off by the bytes its own signature lost, and a step of one byte
  // can move the size by two: search up to 16 bytes either side (3 once failed in CI).
  let dataLen = 131072 - 200;
  dataLen += 131072 - (await sizeOf(dataLen));
  for (let k = 0; k <= 32; k++) {
    const d = k % 2 ? (k + 1) / 2 : -k / 2;
    if ((await sizeOf(dataLen + d)) === 131072) {
      dataLen += d;
      break;
    }
  }
  const atCap = await wallet.signTransaction({ ...base, chainId, nonce: nonceNow, gasLimit: 3000000n, data: capData(dataLen) });
  check(ethers.getBytes(atCap).length === 131072, `the transaction at the cap is ${ethers.getBytes(atCap).length} bytes`);
  let overLen = dataLen + 1;
  while ((await sizeOf(overLen)) <= 131072) overLen++;
  const over = await wallet.signTransaction({ ...base, chainId, nonce: nonceNow, gasLimit: 3000000n, data: capData(overLen) });
  await refused(over, 'oversized data');
  const atCapReceipt = await withTimeout((await provider.broadcastTransaction(atCap)).wait(), 20000, 'the receipt of the transaction at the cap');
  check(atCapReceipt.status === 1, 'the transaction at the size cap failed');
  log('refusals name the rule (chain id, nonce, funds, size); a transaction at the 128 KiB cap is mined');

  step = 'cast';
  check(cast('chain-id', '--rpc-url', rpcUrl) === chainId.toString(), 'cast chain-id');
  const castSink = ethers.Wallet.createRandom().address;
  const sendOut = cast('send', '--rpc-url', rpcUrl, '--private-key', key, castSink, '--value', '12345', '--json');
  const sendReceipt = JSON.parse(sendOut);
  check(sendReceipt.status === '0x1', `cast send receipt status ${sendReceipt.status}`);
  check(cast('balance', '--rpc-url', rpcUrl, castSink) === '12345', 'cast balance');
  const castTokenBalance = cast('call', '--rpc-url', rpcUrl, tokenAddress, 'balanceOf(address)(uint256)', fresh[0]);
  check(castTokenBalance.split(' ')[0] === '1500', `cast call balanceOf gave ${castTokenBalance}`);
  const castBlock = JSON.parse(cast('block', '--rpc-url', rpcUrl, 'latest', '--json'));
  check(castBlock.hash && castBlock.hash.length === 66, 'cast block latest');
  cast('receipt', '--rpc-url', rpcUrl, sendReceipt.transactionHash);
  log('cast chain-id, send, balance, call, block and receipt work');

  provider.destroy();
  console.log('clients: all checks passed');
}

main().then(() => process.exit(0), (e) => {
  console.error(`clients: FAILED: ${e.message}`);
  process.exit(1);
});
