// manager.test.mjs - CohortManager (contracts-abi/artifacts/CohortManager.json, the committed
// artifact; compile.mjs --check ties it to the sources) against a real anvil, with ethers 6.
//
// Run: cd /work/main && node --test contracts-abi/test/
//
// anvil is started on a free 127.0.0.1 port with 25 funded dev accounts and killed by PID at
// the end (contracts-abi/scripts/anvil.mjs also kills it on failure or interruption). Most tests
// deploy a fresh manager so their state is their own. Expected values come from the rules in
// docs/manager-contracts.md recomputed here in JavaScript (addresses from ethers, hashes from
// ethers' keccak256, first fit by a plain loop), never from the contract's own outputs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbiCoder,
  ContractFactory,
  HDNodeWallet,
  Interface,
  JsonRpcProvider,
  Network,
  computeAddress,
  concat,
  keccak256,
  toBeHex,
  toUtf8Bytes,
  zeroPadValue,
} from 'ethers';
import { ANVIL_MNEMONIC, startAnvil } from '../scripts/anvil.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifact = JSON.parse(readFileSync(resolve(here, '../artifacts/CohortManager.json'), 'utf8'));
const iface = new Interface(artifact.abi);

const ACCOUNTS = 25;
const BASE_PORT = 10000;
const SMALL = 1;
const MEDIUM = 16;
const LARGE = 128;
/** Gas to add to createChain's estimate per member (docs/manager-contracts.md, "Gas"). */
const CREATE_CHAIN_MARGIN = 25_000n;
const STATUS = { None: 0n, Active: 1n, Leaving: 2n, Left: 3n };
/** Methods that may start a rotation, and the gas to add to their estimate (docs/manager-contracts.md, "Gas"). */
const ROTATING = new Set(['initExit', 'rotateLeaving', 'rotateMember', 'reportAbsent', 'completeRotation']);
const ROTATION_MARGIN = 100_000n;

let anvil;
let provider;
const wallets = [];

before(async () => {
  anvil = await startAnvil({ accounts: ACCOUNTS });
  provider = new JsonRpcProvider(anvil.url, Network.from(31337), {
    staticNetwork: true,
    pollingInterval: 50,
    cacheTimeout: -1, // ethers caches identical calls for 250 ms: stale nonces and getters
  });
  const root = HDNodeWallet.fromPhrase(ANVIL_MNEMONIC, undefined, "m/44'/60'/0'/0");
  for (let i = 0; i < ACCOUNTS; i++) wallets.push(root.deriveChild(i).connect(provider));
});

after(async () => {
  provider?.destroy();
  await anvil?.stop();
});

// ---------------------------------------------------------------- helpers

/** The 64-byte public key X || Y of a wallet (ethers gives 0x04 || X || Y). */
function publicKeyOf(wallet) {
  const full = wallet.signingKey.publicKey;
  assert.equal(full.slice(0, 4), '0x04');
  return '0x' + full.slice(4);
}

/** 10.0.0.(i+1) as bytes4. */
function ipOf(i) {
  return toBeHex(0x0a000000 + i + 1, 4);
}

async function deploy() {
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, wallets[0]);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  return contract;
}

/** Sends a transaction and returns its receipt with the logs parsed by the manager's ABI. */
async function send(manager, wallet, method, ...args) {
  const contract = manager.connect(wallet);
  const overrides = {};
  if (method === 'createChain') {
    // createChain's gas depends on the nodes it picks, and the estimate runs with another
    // prevrandao than the block that includes the transaction: add the documented margin.
    overrides.gasLimit = (await contract.createChain.estimateGas(...args)) + CREATE_CHAIN_MARGIN * BigInt(args[2]);
  }
  if (ROTATING.has(method)) {
    // Picking a replacement scans from a point that depends on prevrandao too.
    overrides.gasLimit = (await contract[method].estimateGas(...args)) + ROTATION_MARGIN;
  }
  const tx = await contract[method](...args, overrides);
  const receipt = await tx.wait();
  assert.equal(receipt.status, 1, `${method} failed`);
  receipt.events = receipt.logs.map((log) => iface.parseLog(log));
  return receipt;
}

/** Registers node i from wallet i (name node-i, ip 10.0.0.(i+1), base port 10000). */
async function registerNode(manager, i) {
  const wallet = wallets[i];
  return send(manager, wallet, 'registerNode', `node-${i}`, ipOf(i), BASE_PORT, publicKeyOf(wallet), `node${i}.example.org`);
}

/** A manager with `count` nodes; node i + 1 belongs to wallet i. */
async function deployWithNodes(count) {
  const manager = await deploy();
  for (let i = 0; i < count; i++) await registerNode(manager, i);
  return manager;
}

/** Awaits a call or transaction that must revert with custom error `name` (and `args`, if given). */
async function expectRevert(promise, name, args) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a revert with ${name}, but the call succeeded`);
  let revert = error.revert;
  if (!revert && error.data) revert = iface.parseError(error.data);
  assert.ok(revert, `expected ${name}, got: ${error.shortMessage ?? error.message}`);
  assert.equal(revert.name, name);
  if (args !== undefined) assert.deepEqual([...revert.args], args);
}

/** Creates chains from one wallet with consecutive nonces, all in flight at once; returns receipts. */
async function createChains(manager, wallet, specs) {
  let nonce = await provider.getTransactionCount(wallet.address, 'pending');
  const sent = [];
  for (const [name, size, count] of specs) {
    sent.push(await manager.connect(wallet).createChain(name, size, count, { nonce: nonce++, gasLimit: 2_000_000 }));
  }
  const receipts = await Promise.all(sent.map((tx) => tx.wait()));
  for (const r of receipts) {
    assert.equal(r.status, 1);
    r.events = r.logs.map((log) => iface.parseLog(log));
  }
  return receipts;
}

/** First fit, the obvious way: the lowest s whose `size` slots are all clear in the bitmap. */
function firstFit(slotMap, size) {
  for (let s = 0; s + size <= 128; s++) {
    let free = true;
    for (let k = 0; k < size && free; k++) free = ((slotMap >> BigInt(s + k)) & 1n) === 0n;
    if (free) return s;
  }
  return -1;
}

/** The bitmap of ranges [first, first + size). */
function bitmapOf(ranges) {
  let map = 0n;
  for (const [first, size] of ranges) for (let s = first; s < first + size; s++) map |= 1n << BigInt(s);
  return map;
}

/** The documented selection rule, recomputed from the state before the block and its prevrandao. */
async function expectedSelection(manager, blockNumber, name, size, nodeCount) {
  const blockTag = blockNumber - 1;
  const candidates = [];
  for (const id of await manager.getActiveNodeIds({ blockTag })) {
    const node = await manager.getNode(id, { blockTag });
    const first = firstFit(node.slotMap, size);
    if (first >= 0) candidates.push({ id, first });
  }
  const block = await provider.getBlock(blockNumber);
  assert.ok(block.prevRandao, 'the block has a prevrandao');
  const seed = keccak256(concat([zeroPadValue(block.prevRandao, 32), toUtf8Bytes(name)]));
  for (let i = 0; i < nodeCount; i++) {
    const r = BigInt(keccak256(concat([seed, toBeHex(i, 32)])));
    const j = i + Number(r % BigInt(candidates.length - i));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  return candidates.slice(0, nodeCount);
}

function evmChainIdOf(name) {
  return BigInt(keccak256(toUtf8Bytes(name))) & ((1n << 53n) - 1n);
}

// ---------------------------------------------------------------- nodes

describe('nodes', () => {
  let manager;
  const registrations = [];

  test('registers 20 nodes with their events and getters', async () => {
    manager = await deploy();
    for (let i = 0; i < 20; i++) registrations.push(await registerNode(manager, i));

    for (let i = 0; i < 20; i++) {
      const wallet = wallets[i];
      const events = registrations[i].events;
      assert.equal(events.length, 1);
      const e = events[0];
      assert.equal(e.name, 'NodeRegistered');
      assert.equal(e.args.nodeId, BigInt(i + 1));
      assert.equal(e.args.owner, wallet.address);
      assert.equal(e.args.name, `node-${i}`);
      assert.equal(e.args.ip, ipOf(i));
      assert.equal(e.args.port, BigInt(BASE_PORT));
      assert.equal(e.args.publicKey, publicKeyOf(wallet));
      assert.equal(e.args.domain, `node${i}.example.org`);
      // Indexed fields are topics a watcher can filter on.
      const log = registrations[i].logs[0];
      assert.equal(log.topics[1], toBeHex(i + 1, 32));
      assert.equal(log.topics[2], zeroPadValue(wallet.address.toLowerCase(), 32));

      const node = await manager.getNode(i + 1);
      assert.equal(node.id, BigInt(i + 1));
      assert.equal(node.name, `node-${i}`);
      assert.equal(node.ip, ipOf(i));
      assert.equal(node.port, BigInt(BASE_PORT));
      assert.equal(node.publicKey, publicKeyOf(wallet));
      assert.equal(node.domain, `node${i}.example.org`);
      assert.equal(node.owner, wallet.address);
      assert.equal(node.status, STATUS.Active);
      assert.equal(node.slotMap, 0n);
      assert.equal(node.freeSlots, 128n);
      assert.equal(node.registeredBlock, BigInt(registrations[i].blockNumber));
      assert.equal(await manager.getFreeSlots(i + 1), 128n);
      assert.deepEqual([...(await manager.getNodesOfOwner(wallet.address))], [BigInt(i + 1)]);
      assert.equal(await manager.getNodeIdByName(`node-${i}`), BigInt(i + 1));
    }
    assert.equal(await manager.getNodeCount(), 20n);
    assert.deepEqual(
      [...(await manager.getActiveNodeIds())],
      Array.from({ length: 20 }, (_, i) => BigInt(i + 1)),
    );
    assert.deepEqual([...(await manager.getNodesOfOwner(wallets[24].address))], []);
    await expectRevert(manager.getNode(21), 'NodeNotFound', [21n]);
    await expectRevert(manager.getNode(0), 'NodeNotFound', [0n]);
  });

  test('node names are unique', async () => {
    const w = wallets[20];
    await expectRevert(
      manager.connect(w).registerNode('node-3', ipOf(20), BASE_PORT, publicKeyOf(w), ''),
      'NodeNameTaken',
      ['node-3', 4n],
    );
  });

  test('ip:port is unique and port blocks of one IP may not overlap', async () => {
    const w = wallets[20];
    const key = publicKeyOf(w);
    await expectRevert(manager.connect(w).registerNode('other', ipOf(5), BASE_PORT, key, ''), 'EndpointTaken', [
      ipOf(5),
      BigInt(BASE_PORT),
      6n,
      BigInt(BASE_PORT),
    ]);
    // A node's slot ports run from base to base + 128 * 8 - 1: bases 1023 apart overlap...
    await expectRevert(
      manager.connect(w).registerNode('other', ipOf(5), BASE_PORT + 1023, key, ''),
      'EndpointTaken',
      [ipOf(5), BigInt(BASE_PORT + 1023), 6n, BigInt(BASE_PORT)],
    );
    await expectRevert(
      manager.connect(w).registerNode('other', ipOf(5), BASE_PORT - 1023, key, ''),
      'EndpointTaken',
      [ipOf(5), BigInt(BASE_PORT - 1023), 6n, BigInt(BASE_PORT)],
    );
    // ... and 1024 away on either side is free, as is the same port on another IP.
    const r = await send(manager, w, 'registerNode', 'above', ipOf(5), BASE_PORT + 1024, key, '');
    assert.equal(r.events[0].args.nodeId, 21n);
    const w2 = wallets[21];
    await send(manager, w2, 'registerNode', 'below', ipOf(5), BASE_PORT - 1024, publicKeyOf(w2), '');
    const w3 = wallets[22];
    await send(manager, w3, 'registerNode', 'elsewhere', ipOf(40), BASE_PORT, publicKeyOf(w3), '');
    assert.equal(await manager.getNodeCount(), 23n);
  });

  test('the public key must belong to the sender', async () => {
    const sender = wallets[23];
    const other = wallets[24];
    // Another account's key: refused, naming the key's address (ethers computes it independently).
    await expectRevert(
      manager.connect(sender).registerNode('thief', ipOf(60), BASE_PORT, publicKeyOf(other), ''),
      'PublicKeyNotSender',
      [computeAddress(other.signingKey.publicKey), sender.address],
    );
    // The 65-byte 0x04-prefixed form and the 33-byte compressed form are refused by length.
    await expectRevert(
      manager.connect(sender).registerNode('thief', ipOf(60), BASE_PORT, sender.signingKey.publicKey, ''),
      'InvalidPublicKeyLength',
      [65n],
    );
    await expectRevert(
      manager.connect(sender).registerNode('thief', ipOf(60), BASE_PORT, sender.signingKey.compressedPublicKey, ''),
      'InvalidPublicKeyLength',
      [33n],
    );
    // The sender's own key works, and one owner may register several nodes.
    await send(manager, sender, 'registerNode', 'own-1', ipOf(60), BASE_PORT, publicKeyOf(sender), '');
    await send(manager, sender, 'registerNode', 'own-2', ipOf(61), BASE_PORT, publicKeyOf(sender), '');
    assert.deepEqual([...(await manager.getNodesOfOwner(sender.address))], [24n, 25n]);
  });

  test('names, ports and addresses are validated', async () => {
    const w = wallets[24];
    const key = publicKeyOf(w);
    const reg = (name, ip, port, domain = '') => manager.connect(w).registerNode(name, ip, port, key, domain);
    await expectRevert(reg('', ipOf(70), BASE_PORT), 'InvalidNodeName', ['']);
    await expectRevert(reg('has space', ipOf(70), BASE_PORT), 'InvalidNodeName', ['has space']);
    await expectRevert(reg('x'.repeat(64), ipOf(70), BASE_PORT), 'InvalidNodeName', ['x'.repeat(64)]);
    await expectRevert(reg('tab\there', ipOf(70), BASE_PORT), 'InvalidNodeName', ['tab\there']);
    await expectRevert(reg('ok', ipOf(70), BASE_PORT, 'bad domain'), 'InvalidDomain', ['bad domain']);
    await expectRevert(reg('ok', '0x00000000', BASE_PORT), 'InvalidIp', ['0x00000000']);
    await expectRevert(reg('ok', ipOf(70), 1023), 'InvalidPort', [1023n, 1024n, 64512n]);
    await expectRevert(reg('ok', ipOf(70), 64513), 'InvalidPort', [64513n, 1024n, 64512n]);
    // The limits themselves are accepted: 63 printable characters, ports 1024 and 64512.
    await send(manager, w, 'registerNode', '~'.repeat(63), ipOf(70), 1024, key, 'a'.repeat(253));
    await send(manager, w, 'registerNode', 'Node_B!', ipOf(70), 64512, key, '');
  });
});

// ---------------------------------------------------------------- chains

describe('chains', () => {
  test('createChain picks nodeCount distinct nodes by the documented rule, with all events', async () => {
    const manager = await deployWithNodes(20);
    const owner = wallets[24];
    const r = await send(manager, owner, 'createChain', 'alpha', SMALL, 16);

    const expected = await expectedSelection(manager, r.blockNumber, 'alpha', SMALL, 16);
    const ids = expected.map((c) => c.id);
    assert.equal(new Set(ids).size, 16, 'distinct members');

    // ChainCreated, then one NodeAssigned per member in member order.
    assert.equal(r.events.length, 17);
    const created = r.events[0];
    assert.equal(created.name, 'ChainCreated');
    assert.equal(created.args.chainId, 1n);
    assert.equal(created.args.name, 'alpha');
    assert.equal(created.args.owner, owner.address);
    assert.equal(created.args.size, BigInt(SMALL));
    assert.deepEqual([...created.args.nodeIds], ids);
    assert.equal(r.logs[0].topics[1], toBeHex(1, 32));
    assert.equal(r.logs[0].topics[2], zeroPadValue(owner.address.toLowerCase(), 32));
    for (let i = 0; i < 16; i++) {
      const e = r.events[1 + i];
      assert.equal(e.name, 'NodeAssigned');
      assert.equal(e.args.chainId, 1n);
      assert.equal(e.args.nodeId, ids[i]);
      assert.equal(e.args.firstSlot, 0n);
      assert.equal(r.logs[1 + i].topics[1], toBeHex(1, 32));
      assert.equal(r.logs[1 + i].topics[2], toBeHex(ids[i], 32));
    }

    // A watcher for one node filters NodeAssigned by its id (topic 2) and finds exactly its chain.
    const topic = iface.getEvent('NodeAssigned').topicHash;
    const mine = await provider.getLogs({
      address: await manager.getAddress(),
      topics: [topic, null, toBeHex(ids[3], 32)],
      fromBlock: 0,
    });
    assert.equal(mine.length, 1);
    assert.equal(iface.parseLog(mine[0]).args.nodeId, ids[3]);

    // The getters agree with the events.
    const chain = await manager.getChain(1);
    assert.equal(chain.id, 1n);
    assert.equal(chain.name, 'alpha');
    assert.equal(chain.owner, owner.address);
    assert.equal(chain.size, BigInt(SMALL));
    assert.equal(chain.evmChainId, evmChainIdOf('alpha'));
    assert.equal(chain.createdBlock, BigInt(r.blockNumber));
    assert.deepEqual([...chain.nodeIds], ids);
    assert.deepEqual([...chain.firstSlots], Array(16).fill(0n));
    const byName = await manager.getChainByName('alpha');
    assert.deepEqual(byName.toArray(), chain.toArray());
    assert.equal(await manager.getChainIdByName('alpha'), 1n);
    assert.equal(await manager.getChainIdByName('beta'), 0n);
    const [nodeIds, firstSlots] = await manager.getChainNodes(1);
    assert.deepEqual([...nodeIds], ids);
    assert.deepEqual([...firstSlots], Array(16).fill(0n));
    for (let id = 1n; id <= 20n; id++) {
      const member = ids.includes(id);
      const [chainIds, slots] = await manager.getNodeChains(id);
      assert.deepEqual([...chainIds], member ? [1n] : []);
      assert.deepEqual([...slots], member ? [0n] : []);
      assert.equal(await manager.getFreeSlots(id), member ? 127n : 128n);
    }
    assert.equal(await manager.evmChainIdOf('alpha'), evmChainIdOf('alpha'));
    assert.ok(evmChainIdOf('alpha') <= BigInt(Number.MAX_SAFE_INTEGER));
  });

  test('selection is deterministic for a given block state and uses only nodes with room', async () => {
    const manager = await deployWithNodes(20);
    const owner = wallets[24];
    const alpha = await send(manager, owner, 'createChain', 'alpha', SMALL, 16);
    const alphaIds = alpha.events[0].args.nodeIds.map((x) => x);

    // The same question in the same block gets the same answer (eth_call twice, pinned block).
    const blockTag = await provider.getBlockNumber();
    const a = await manager.previewSelection('gamma', SMALL, 7, { blockTag });
    const b = await manager.previewSelection('gamma', SMALL, 7, { blockTag });
    assert.deepEqual(a.toArray().map((x) => [...x]), b.toArray().map((x) => [...x]));
    assert.equal(new Set(a[0]).size, 7);

    // Only 4 nodes have 128 free slots (alpha holds slot 0 of the 16 others).
    const empty = Array.from({ length: 20 }, (_, i) => BigInt(i + 1)).filter((id) => !alphaIds.includes(id));
    assert.equal(empty.length, 4);
    await expectRevert(manager.connect(owner).createChain('big', LARGE, 5), 'NotEnoughNodes', [128n, 5n, 4n]);
    const big = await send(manager, owner, 'createChain', 'big', LARGE, 4);
    assert.deepEqual([...big.events[0].args.nodeIds].sort(), [...empty].sort());
    assert.deepEqual(
      [...big.events[0].args.nodeIds],
      (await expectedSelection(manager, big.blockNumber, 'big', LARGE, 4)).map((c) => c.id),
    );
    for (const id of empty) assert.equal(await manager.getFreeSlots(id), 0n);

    // Now the full nodes are never candidates: 16 small members must be exactly alpha's nodes,
    // each at slot 1, and a 17th is refused with the count of nodes that have room.
    await expectRevert(manager.connect(owner).createChain('small17', SMALL, 16 + 1), 'InvalidNodeCount', [17n, 16n]);
    const beta = await send(manager, owner, 'createChain', 'beta', SMALL, 16);
    assert.deepEqual([...beta.events[0].args.nodeIds].sort(), [...alphaIds].sort());
    for (const e of beta.events.slice(1)) assert.equal(e.args.firstSlot, 1n);
    assert.deepEqual(
      [...beta.events[0].args.nodeIds],
      (await expectedSelection(manager, beta.blockNumber, 'beta', SMALL, 16)).map((c) => c.id),
    );
  });

  test('128 small chains fill a node and the 129th is refused with the reason', async () => {
    const manager = await deployWithNodes(1);
    const owner = wallets[24];
    const specs = Array.from({ length: 128 }, (_, i) => [`c${i}`, SMALL, 1]);
    const receipts = await createChains(manager, owner, specs);
    // Mined in nonce order, each took the lowest free slot.
    const slots = receipts.map((r) => r.events[1].args.firstSlot);
    assert.deepEqual(slots, Array.from({ length: 128 }, (_, i) => BigInt(i)));
    assert.equal(await manager.getFreeSlots(1), 0n);
    assert.equal((await manager.getNode(1)).slotMap, (1n << 128n) - 1n);
    await expectRevert(manager.connect(owner).createChain('c128', SMALL, 1), 'NotEnoughNodes', [1n, 1n, 0n]);

    const [chainIds, firstSlots] = await manager.getNodeChains(1);
    assert.deepEqual([...chainIds], Array.from({ length: 128 }, (_, i) => BigInt(i + 1)));
    assert.deepEqual([...firstSlots], Array.from({ length: 128 }, (_, i) => BigInt(i)));

    // 16 free slots that are not contiguous do not hold a medium chain; 16 contiguous ones do.
    let nonce = await provider.getTransactionCount(owner.address, 'pending');
    const deletions = [];
    for (let s = 0; s < 32; s += 2) deletions.push(await manager.connect(owner).deleteChain(s + 1, { nonce: nonce++ }));
    await Promise.all(deletions.map((tx) => tx.wait()));
    assert.equal(await manager.getFreeSlots(1), 16n);
    await expectRevert(manager.connect(owner).createChain('m1', MEDIUM, 1), 'NotEnoughNodes', [16n, 1n, 0n]);
    const deletions2 = [];
    for (let s = 64; s < 80; s++) deletions2.push(await manager.connect(owner).deleteChain(s + 1, { nonce: nonce++ }));
    await Promise.all(deletions2.map((tx) => tx.wait()));
    const m1 = await send(manager, owner, 'createChain', 'm1', MEDIUM, 1);
    assert.equal(m1.events[1].args.firstSlot, 64n);
    // A small one goes to the lowest hole.
    const s1 = await send(manager, owner, 'createChain', 's1', SMALL, 1);
    assert.equal(s1.events[1].args.firstSlot, 0n);
  });

  test('medium and large chains take contiguous ranges by first fit', async () => {
    const manager = await deployWithNodes(1);
    const owner = wallets[24];
    const ranges = new Map(); // chainId -> [first, size]
    const create = async (name, size) => {
      const r = await send(manager, owner, 'createChain', name, size, 1);
      const id = r.events[0].args.chainId;
      const before = await manager.getNode(1, { blockTag: r.blockNumber - 1 });
      const first = Number(r.events[1].args.firstSlot);
      assert.equal(first, firstFit(before.slotMap, size), `${name} placed by first fit`);
      ranges.set(id, [first, size]);
      const node = await manager.getNode(1);
      assert.equal(node.slotMap, bitmapOf([...ranges.values()]), `slot map after ${name}`);
      return { id, first };
    };
    const remove = async (id) => {
      await send(manager, owner, 'deleteChain', id);
      ranges.delete(id);
      assert.equal((await manager.getNode(1)).slotMap, bitmapOf([...ranges.values()]));
    };

    const a = await create('a', SMALL);
    assert.equal(a.first, 0);
    assert.equal((await create('m1', MEDIUM)).first, 1);
    assert.equal((await create('b', SMALL)).first, 17);
    await remove(a.id);
    assert.equal((await create('m2', MEDIUM)).first, 18); // the hole at 0 is one slot: too small
    assert.equal((await create('c', SMALL)).first, 0);
    await expectRevert(manager.connect(owner).createChain('l', LARGE, 1), 'NotEnoughNodes', [128n, 1n, 0n]);
    assert.equal(await manager.getFreeSlots(1), BigInt(128 - 1 - 16 - 1 - 16));
    const [chainIds, firstSlots] = await manager.getNodeChains(1);
    assert.deepEqual([...firstSlots], [0n, 1n, 17n, 18n]);
    assert.equal(chainIds.length, 4);

    for (const id of [...ranges.keys()]) await remove(id);
    const l = await create('l', LARGE);
    assert.equal(l.first, 0);
    assert.equal(await manager.getFreeSlots(1), 0n);
    await remove(l.id);
    // Eight medium chains fill a node at 0, 16, ..., 112; the ninth has no room.
    for (let k = 0; k < 8; k++) assert.equal((await create(`m${k + 10}`, MEDIUM)).first, 16 * k);
    await expectRevert(manager.connect(owner).createChain('m9', MEDIUM, 1), 'NotEnoughNodes', [16n, 1n, 0n]);
  });

  test('deleteChain frees the slots, owner only, with its events', async () => {
    const manager = await deployWithNodes(6);
    const owner = wallets[24];
    const created = await send(manager, owner, 'createChain', 'doomed', MEDIUM, 4);
    const ids = [...created.events[0].args.nodeIds];
    await expectRevert(manager.connect(wallets[23]).deleteChain(1), 'NotChainOwner', [
      1n,
      owner.address,
      wallets[23].address,
    ]);
    // A node's owner is not the chain's owner either.
    await expectRevert(manager.connect(wallets[Number(ids[0]) - 1]).deleteChain(1), 'NotChainOwner');

    const r = await send(manager, owner, 'deleteChain', 1);
    assert.equal(r.events.length, 5);
    for (let i = 0; i < 4; i++) {
      const e = r.events[i];
      assert.equal(e.name, 'NodeReleased');
      assert.equal(e.args.chainId, 1n);
      assert.equal(e.args.nodeId, ids[i]);
      assert.equal(e.args.firstSlot, 0n);
      assert.equal(r.logs[i].topics[2], toBeHex(ids[i], 32));
    }
    const deleted = r.events[4];
    assert.equal(deleted.name, 'ChainDeleted');
    assert.equal(deleted.args.chainId, 1n);
    assert.equal(deleted.args.name, 'doomed');
    assert.equal(deleted.args.owner, owner.address);
    for (let id = 1n; id <= 6n; id++) {
      assert.equal(await manager.getFreeSlots(id), 128n);
      assert.deepEqual([...(await manager.getNodeChains(id))[0]], []);
    }
    await expectRevert(manager.getChain(1), 'ChainNotFound', [1n]);
    await expectRevert(manager.getChainNodes(1), 'ChainNotFound', [1n]);
    await expectRevert(manager.getChainByName('doomed'), 'ChainNameNotFound', ['doomed']);
    await expectRevert(manager.connect(owner).deleteChain(1), 'ChainNotFound', [1n]);
    // The name is free again; the new chain gets a new id.
    const again = await send(manager, owner, 'createChain', 'doomed', SMALL, 2);
    assert.equal(again.events[0].args.chainId, 2n);
    assert.equal(await manager.getChainCount(), 2n);
  });

  test('chain arguments are validated', async () => {
    const manager = await deployWithNodes(2);
    const owner = wallets[24];
    const create = (name, size = SMALL, count = 1) => manager.connect(owner).createChain(name, size, count);
    for (const bad of ['', 'Alpha', '-a', 'a-', 'a_b', 'a b', 'a.b', 'x'.repeat(64), 'é']) {
      await expectRevert(create(bad), 'InvalidChainName', [bad]);
    }
    for (const size of [0, 2, 15, 17, 127, 255]) await expectRevert(create('ok', size), 'InvalidChainSize', [BigInt(size)]);
    await expectRevert(create('ok', SMALL, 0), 'InvalidNodeCount', [0n, 16n]);
    await expectRevert(create('ok', SMALL, 17), 'InvalidNodeCount', [17n, 16n]);
    await expectRevert(create('ok', SMALL, 3), 'NotEnoughNodes', [1n, 3n, 2n]);
    // The limits are accepted: 63 characters, inner dashes, digits only.
    await send(manager, owner, 'createChain', 'a' + '-'.repeat(61) + 'z', SMALL, 1);
    await send(manager, owner, 'createChain', '0', SMALL, 2);
    await expectRevert(create('0'), 'ChainNameTaken', ['0', 2n]);
  });
});

// ---------------------------------------------------------------- exit

describe('node exit', () => {
  test('exit is refused while the node serves chains and allowed after their deletion', async () => {
    const manager = await deployWithNodes(3);
    const owner = wallets[24];
    const operator = wallets[0]; // owns node 1
    const chain = await send(manager, owner, 'createChain', 'busy', MEDIUM, 3);
    assert.ok(chain.events[0].args.nodeIds.includes(1n));

    await expectRevert(manager.connect(wallets[1]).initExit(1), 'NotNodeOwner', [
      1n,
      operator.address,
      wallets[1].address,
    ]);
    await expectRevert(manager.connect(operator).completeExit(1), 'WrongNodeStatus', [
      1n,
      STATUS.Active,
      STATUS.Leaving,
    ]);

    // initExit drains: the node gets no new chains, and its chain would rotate, but no node
    // outside the chain is left to take it: RotationWaiting.
    const init = await send(manager, operator, 'initExit', 1);
    assert.equal(init.events.length, 2);
    assert.equal(init.events[1].name, 'RotationWaiting');
    assert.deepEqual([...init.events[1].args], [1n, 1n]);
    assert.equal((await manager.getRotation(1)).pending, false);
    assert.equal(init.events[0].name, 'NodeExitInitiated');
    assert.equal(init.events[0].args.nodeId, 1n);
    assert.equal(init.events[0].args.owner, operator.address);
    assert.equal(init.events[0].args.usedSlots, 16n);
    assert.equal((await manager.getNode(1)).status, STATUS.Leaving);
    assert.deepEqual([...(await manager.getActiveNodeIds())].sort(), [2n, 3n]);
    await expectRevert(manager.connect(owner).createChain('more', SMALL, 3), 'NotEnoughNodes', [1n, 3n, 2n]);
    const more = await send(manager, owner, 'createChain', 'more', SMALL, 2);
    assert.ok(!more.events[0].args.nodeIds.includes(1n));
    await expectRevert(manager.connect(operator).initExit(1), 'WrongNodeStatus', [
      1n,
      STATUS.Leaving,
      STATUS.Active,
    ]);

    // The exit cannot complete while the chain is on the node; nor can it rotate yet.
    await expectRevert(manager.connect(operator).completeExit(1), 'NodeServesChains', [1n, 16n]);
    await expectRevert(manager.connect(wallets[5]).rotateLeaving(1, 1), 'NoReplacement', [1n, BigInt(MEDIUM)]);
    await send(manager, owner, 'deleteChain', 1);
    const done = await send(manager, operator, 'completeExit', 1);
    assert.equal(done.events.length, 1);
    assert.equal(done.events[0].name, 'NodeExited');
    assert.equal(done.events[0].args.nodeId, 1n);
    assert.equal(done.events[0].args.owner, operator.address);
    assert.equal((await manager.getNode(1)).status, STATUS.Left);
    await expectRevert(manager.connect(operator).completeExit(1), 'WrongNodeStatus', [
      1n,
      STATUS.Left,
      STATUS.Leaving,
    ]);

    // The name and endpoint are free again: the operator registers the server anew.
    assert.equal(await manager.getNodeIdByName('node-0'), 0n);
    const again = await registerNode(manager, 0);
    assert.equal(again.events[0].args.nodeId, 4n);
    assert.deepEqual([...(await manager.getNodesOfOwner(operator.address))], [1n, 4n]);
    assert.equal(await manager.getNodeCount(), 4n);
  });
});

// ---------------------------------------------------------------- rotation

const REASON = { Exit: 1n, Owner: 2n, Absent: 3n };
const abi = AbiCoder.defaultAbiCoder();
const ROTATION_DONE_TAG = keccak256(toUtf8Bytes('cohort rotation done v1'));
const ABSENT_TAG = keccak256(toUtf8Bytes('cohort member absent v1'));

/** The documented digest members sign to complete a rotation. */
function rotationDigest(manager, chainId, epoch, height, leaving, joining) {
  return keccak256(
    abi.encode(
      ['bytes32', 'uint256', 'address', 'uint256', 'uint32', 'uint64', 'uint256', 'uint256'],
      [ROTATION_DONE_TAG, 31337, manager.target, chainId, epoch, height, leaving, joining],
    ),
  );
}

/** The documented digest members sign to report another absent. */
function absenceDigest(manager, chainId, epoch, nodeId, since) {
  return keccak256(
    abi.encode(
      ['bytes32', 'uint256', 'address', 'uint256', 'uint32', 'uint256', 'uint256'],
      [ABSENT_TAG, 31337, manager.target, chainId, epoch, nodeId, since],
    ),
  );
}

/** Node id -> the key that signs for it (node i + 1 is wallet i in these tests). */
function signAs(nodeId, digest) {
  return wallets[Number(nodeId) - 1].signingKey.sign(digest).serialized;
}

/**
 * The documented replacement rule, recomputed: start = keccak256(prevrandao || chainId ||
 * epoch as 4 bytes) mod n over getActiveNodeIds() after the block, then the first node from
 * there (wrapping) that is not a member and had room before the block.
 */
async function expectedReplacement(manager, blockNumber, chainId, epoch, members, size) {
  const active = [...(await manager.getActiveNodeIds({ blockTag: blockNumber }))];
  const block = await provider.getBlock(blockNumber);
  const seed = keccak256(concat([zeroPadValue(block.prevRandao, 32), toBeHex(chainId, 32), toBeHex(epoch, 4)]));
  const start = Number(BigInt(seed) % BigInt(active.length));
  for (let k = 0; k < active.length; k++) {
    const id = active[(start + k) % active.length];
    if (members.includes(id)) continue;
    const first = firstFit((await manager.getNode(id, { blockTag: blockNumber - 1 })).slotMap, size);
    if (first >= 0) return { id, first };
  }
  return null;
}

describe('rotation', () => {
  test('an exit rotates the chain to a replacement, which f + 1 new members confirm', async () => {
    const manager = await deployWithNodes(6);
    const owner = wallets[24];
    const created = await send(manager, owner, 'createChain', 'moving', MEDIUM, 4);
    const members = [...created.events[0].args.nodeIds];
    const firstSlots = [...(await manager.getChainNodes(1)).firstSlots];
    const leaving = members[2];
    const operator = wallets[Number(leaving) - 1];

    const init = await send(manager, operator, 'initExit', leaving);
    assert.deepEqual(
      init.events.map((e) => e.name),
      ['NodeExitInitiated', 'RotationStarted', 'NodeAssigned'],
    );
    const want = await expectedReplacement(manager, init.blockNumber, 1n, 1, members, MEDIUM);
    assert.ok(want && !members.includes(want.id));
    const started = init.events[1].args;
    assert.deepEqual([...started], [1n, leaving, want.id, 1n, 2n, BigInt(want.first), REASON.Exit]);
    assert.deepEqual([...init.events[2].args], [1n, want.id, BigInt(want.first)]);
    const joining = want.id;

    // While it is in flight: the chain's members are the old ones, the joining node's slots
    // are reserved and list the chain, the leaving node cannot complete its exit.
    const rotation = await manager.getRotation(1);
    assert.equal(rotation.epoch, 0n);
    assert.equal(rotation.pending, true);
    assert.equal(rotation.leavingNodeId, leaving);
    assert.equal(rotation.joiningNodeId, joining);
    assert.equal(rotation.memberIndex, 2n);
    assert.equal(rotation.reason, REASON.Exit);
    assert.equal(rotation.startedBlock, BigInt(init.blockNumber));
    assert.deepEqual([...(await manager.getChain(1)).nodeIds], members);
    assert.equal(await manager.getFreeSlots(joining), 128n - 16n);
    assert.deepEqual([...(await manager.getNodeChains(joining)).chainIds], [1n]);
    await expectRevert(manager.connect(operator).completeExit(leaving), 'NodeServesChains', [leaving, 16n]);
    await expectRevert(manager.connect(owner).rotateMember(1, members[0]), 'RotationInFlight', [1n, leaving, joining]);

    // Completing it takes f + 1 = 2 signatures of the new epoch's members over the digest.
    const next = [...members];
    next[2] = joining;
    const height = 1234n;
    const digest = rotationDigest(manager, 1n, 1, height, leaving, joining);
    assert.equal(await manager.rotationDigest(1, 1, height), digest);
    const good = [signAs(joining, digest), signAs(next[0], digest)];
    const stranger = [...Array(6).keys()].map((i) => BigInt(i + 1)).find((id) => !members.includes(id) && id !== joining);
    const anyone = manager.connect(wallets[20]);
    await expectRevert(anyone.completeRotation(1, 2, height, good), 'WrongEpoch', [1n, 2n, 1n]);
    await expectRevert(anyone.completeRotation(1, 1, height, good.slice(0, 1)), 'NotEnoughSignatures', [1n, 2n]);
    await expectRevert(anyone.completeRotation(1, 1, height, [good[0], good[0]]), 'WrongSigner', [
      1n,
      wallets[Number(joining) - 1].address,
    ]);
    await expectRevert(anyone.completeRotation(1, 1, height, [good[0], signAs(leaving, digest)]), 'WrongSigner', [
      1n,
      operator.address,
    ]);
    await expectRevert(anyone.completeRotation(1, 1, height, [good[0], signAs(stranger, digest)]), 'WrongSigner');
    await expectRevert(anyone.completeRotation(1, 1, height + 1n, good), 'WrongSigner'); // signed another height
    await expectRevert(anyone.completeRotation(1, 1, height, [good[0], good[1].slice(0, -2)]), 'BadSignature', [1n]);
    // The same signature with s' = n - s (and v flipped) recovers the same key: refused (EIP-2).
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const r = good[1].slice(0, 66);
    const sHigh = toBeHex(n - BigInt('0x' + good[1].slice(66, 130)), 32).slice(2);
    const vFlipped = good[1].slice(130) === '1b' ? '1c' : '1b';
    await expectRevert(anyone.completeRotation(1, 1, height, [good[0], r + sHigh + vFlipped]), 'BadSignature', [1n]);

    const done = await send(manager, wallets[20], 'completeRotation', 1, 1, height, good);
    assert.deepEqual(
      done.events.map((e) => e.name),
      ['NodeReleased', 'RotationCompleted'],
    );
    assert.deepEqual([...done.events[0].args], [1n, leaving, BigInt(firstSlots[2])]);
    assert.deepEqual([...done.events[1].args], [1n, leaving, joining, 1n, height]);
    const after = await manager.getChain(1);
    assert.deepEqual([...after.nodeIds], next);
    assert.equal(after.firstSlots[2], BigInt(want.first));
    assert.equal((await manager.getRotation(1)).epoch, 1n);
    assert.equal((await manager.getRotation(1)).pending, false);
    assert.equal(await manager.getFreeSlots(leaving), 128n);
    await expectRevert(anyone.completeRotation(1, 1, height, good), 'NoRotation', [1n]);

    // The node leaves; its chain lives on the other five nodes' slots alone.
    const exited = await send(manager, operator, 'completeExit', leaving);
    assert.equal(exited.events[0].name, 'NodeExited');
    // Deleting the chain frees the new member's slots, not the old one's.
    const deleted = await send(manager, owner, 'deleteChain', 1);
    assert.deepEqual(
      deleted.events.filter((e) => e.name === 'NodeReleased').map((e) => e.args.nodeId),
      next,
    );
    assert.equal(await manager.getFreeSlots(joining), 128n);
  });

  test('initExit rotates at most MAX_EXIT_ROTATIONS chains; rotateLeaving and completeRotation the rest', async () => {
    const manager = await deployWithNodes(3);
    const owner = wallets[24];
    assert.equal(await manager.MAX_EXIT_ROTATIONS(), 4n);
    // Six one-member chains on node 1 (each picks one of nodes 1..3; make them all land on 1
    // by creating them while only node 1 is Active).
    await send(manager, wallets[1], 'initExit', 2);
    await send(manager, wallets[2], 'initExit', 3);
    for (let i = 0; i < 6; i++) await send(manager, owner, 'createChain', `c${i}`, SMALL, 1);
    // Node 4 and 5 come: room for all.
    await registerNode(manager, 3);
    await registerNode(manager, 4);
    const init = await send(manager, wallets[0], 'initExit', 1);
    const started = init.events.filter((e) => e.name === 'RotationStarted');
    assert.deepEqual(
      started.map((e) => e.args.chainId),
      [1n, 2n, 3n, 4n],
    );
    for (const e of started) assert.ok([4n, 5n].includes(e.args.joiningNodeId));
    assert.equal((await manager.getRotation(5)).pending, false);
    await expectRevert(manager.connect(wallets[9]).rotateLeaving(1, 1), 'RotationInFlight');
    await expectRevert(manager.connect(wallets[9]).rotateLeaving(5, 4), 'WrongNodeStatus', [4n, STATUS.Active, STATUS.Leaving]);
    await expectRevert(manager.connect(wallets[9]).rotateLeaving(5, 2), 'NotChainMember', [5n, 2n]);
    for (const chainId of [5, 6]) {
      const r = await send(manager, wallets[9], 'rotateLeaving', chainId, 1);
      assert.equal(r.events[0].name, 'RotationStarted');
      assert.equal(r.events[0].args.reason, REASON.Exit);
    }
    // A one-member chain's rotation needs f + 1 = 1 signature: the joining node's.
    for (let chainId = 1; chainId <= 6; chainId++) {
      const rot = await manager.getRotation(chainId);
      const digest = rotationDigest(manager, BigInt(chainId), 1, 7n, 1n, rot.joiningNodeId);
      await send(manager, wallets[9], 'completeRotation', chainId, 1, 7, [signAs(rot.joiningNodeId, digest)]);
    }
    assert.equal(await manager.getFreeSlots(1), 128n);
    await send(manager, wallets[0], 'completeExit', 1);
  });

  test('completeRotation starts the next Leaving member of the chain', async () => {
    const manager = await deployWithNodes(4);
    const owner = wallets[24];
    await send(manager, owner, 'createChain', 'pair', SMALL, 2);
    const members = [...(await manager.getChain(1)).nodeIds];
    const others = [1n, 2n, 3n, 4n].filter((id) => !members.includes(id));
    // Both members leave; only one rotation may be in flight, the second waits.
    const first = await send(manager, wallets[Number(members[0]) - 1], 'initExit', members[0]);
    assert.equal(first.events[1].name, 'RotationStarted');
    const second = await send(manager, wallets[Number(members[1]) - 1], 'initExit', members[1]);
    assert.deepEqual(
      second.events.map((e) => e.name),
      ['NodeExitInitiated'],
    );
    const rot = await manager.getRotation(1);
    assert.ok(others.includes(rot.joiningNodeId));
    const next = [rot.joiningNodeId, members[1]];
    const digest = rotationDigest(manager, 1n, 1, 50n, members[0], rot.joiningNodeId);
    const done = await send(manager, wallets[9], 'completeRotation', 1, 1, 50, [signAs(next[0], digest)]);
    assert.deepEqual(
      done.events.map((e) => e.name),
      ['NodeReleased', 'RotationCompleted', 'RotationStarted', 'NodeAssigned'],
    );
    const again = done.events[2].args;
    assert.equal(again.leavingNodeId, members[1]);
    assert.equal(again.epoch, 2n);
    assert.equal(again.memberIndex, 1n);
    assert.ok(others.includes(again.joiningNodeId) && again.joiningNodeId !== rot.joiningNodeId);
  });

  test('the owner rotates a member; deleting the chain ends a rotation in flight', async () => {
    const manager = await deployWithNodes(5);
    const owner = wallets[24];
    await send(manager, owner, 'createChain', 'owned', LARGE, 4);
    const members = [...(await manager.getChain(1)).nodeIds];
    const spare = [1n, 2n, 3n, 4n, 5n].find((id) => !members.includes(id));
    await expectRevert(manager.connect(wallets[0]).rotateMember(1, members[0]), 'NotChainOwner', [
      1n,
      owner.address,
      wallets[0].address,
    ]);
    await expectRevert(manager.connect(owner).rotateMember(1, spare), 'NotChainMember', [1n, spare]);
    const r = await send(manager, owner, 'rotateMember', 1, members[1]);
    assert.deepEqual([...r.events[0].args], [1n, members[1], spare, 1n, 1n, 0n, REASON.Owner]);
    // The member stays Active; the spare node is now full.
    assert.equal((await manager.getNode(members[1])).status, STATUS.Active);
    assert.equal(await manager.getFreeSlots(spare), 0n);
    const deleted = await send(manager, owner, 'deleteChain', 1);
    assert.deepEqual(
      deleted.events.map((e) => [e.name, e.name === 'NodeReleased' ? e.args.nodeId : null]),
      [...members.map((id) => ['NodeReleased', id]), ['NodeReleased', spare], ['ChainDeleted', null]],
    );
    for (const id of [1n, 2n, 3n, 4n, 5n]) assert.equal(await manager.getFreeSlots(id), 128n);
    assert.equal((await manager.getRotation.staticCall(2).catch((e) => e.revert?.name)), 'ChainNotFound');

    // With every other node full, there is no replacement.
    await send(manager, owner, 'createChain', 'full', LARGE, 5);
    await expectRevert(manager.connect(owner).rotateMember(2, 1), 'NoReplacement', [2n, BigInt(LARGE)]);
  });

  test('2f + 1 of the other members rotate out one they sign is absent', async () => {
    const manager = await deployWithNodes(5);
    const owner = wallets[24];
    await send(manager, owner, 'createChain', 'watched', SMALL, 4);
    const members = [...(await manager.getChain(1)).nodeIds];
    const absent = members[3];
    const others = members.slice(0, 3);
    const now = BigInt((await provider.getBlock('latest')).timestamp);
    const minimum = await manager.MIN_ABSENCE();
    assert.equal(minimum, 600n);
    const since = now - minimum - 5n;
    const digest = absenceDigest(manager, 1n, 0, absent, since);
    assert.equal(await manager.absenceDigest(1, absent, since), digest);
    const sigs = others.map((id) => signAs(id, digest));
    const anyone = manager.connect(wallets[20]);

    await expectRevert(anyone.reportAbsent(1, absent, since, sigs.slice(0, 2)), 'NotEnoughSignatures', [2n, 3n]);
    await expectRevert(anyone.reportAbsent(1, absent, since, [...sigs.slice(0, 2), signAs(absent, digest)]), 'WrongSigner', [
      2n,
      wallets[Number(absent) - 1].address,
    ]);
    const recent = now + 10n;
    const recentSigs = others.map((id) => signAs(id, absenceDigest(manager, 1n, 0, absent, recent)));
    await expectRevert(anyone.reportAbsent(1, absent, recent, recentSigs), 'AbsenceTooShort');
    await expectRevert(anyone.reportAbsent(1, absent, since - 1n, sigs), 'WrongSigner'); // signed another time

    const r = await send(manager, wallets[20], 'reportAbsent', 1, absent, since, sigs);
    assert.equal(r.events[0].name, 'RotationStarted');
    assert.equal(r.events[0].args.leavingNodeId, absent);
    assert.equal(r.events[0].args.reason, REASON.Absent);
    const spare = r.events[0].args.joiningNodeId;
    assert.ok(!members.includes(spare));
    await expectRevert(anyone.reportAbsent(1, absent, since, sigs), 'RotationInFlight');

    // Once the rotation is done, statements of the old epoch no longer count.
    const next = [...others, spare];
    const done = rotationDigest(manager, 1n, 1, 99n, absent, spare);
    await send(manager, wallets[20], 'completeRotation', 1, 1, 99, [signAs(next[0], done), signAs(spare, done)]);
    const stale = others.slice(0, 2).map((id) => signAs(id, absenceDigest(manager, 1n, 0, others[2], since)));
    stale.push(signAs(spare, absenceDigest(manager, 1n, 0, others[2], since)));
    await expectRevert(anyone.reportAbsent(1, others[2], since, stale), 'WrongSigner');
  });
});
