// Generates abi_vectors.json: Solidity ABI encodings produced by ethers 6 (AbiCoder,
// Interface), an implementation independent of ours, for the C codec's tests.
//
//  - "cases": a parameter list type ("(uint256,address[])"), its values and ethers'
//    encoding. Values are written from ethers' own decoding of that encoding, so they are
//    what ethers reads back: integers as decimal strings (negative with "-"), addresses,
//    bytesM, bytes and strings as lowercase 0x hex (strings as their UTF-8 bytes), bools as
//    JSON booleans, arrays and tuples as JSON arrays.
//  - "functions": a human-readable signature, its canonical form, selector, and for some a
//    call (values and ethers' encodeFunctionData output).
//  - "events": a human-readable event, its canonical form, topic 0, and for some full logs
//    (values, topics and data from ethers' encodeEventLog).
//
// Values are drawn from a seeded generator, so the file is reproducible.
// Run: node tests/vectors/gen_abi_vectors.mjs > tests/vectors/abi_vectors.json
import { AbiCoder, Indexed, Interface, ParamType, hexlify, toUtf8Bytes, getAddress } from 'ethers';

const coder = AbiCoder.defaultAbiCoder();

// mulberry32: a small seeded PRNG.
let seed = 0x5eed1234;
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[randInt(xs.length)];
function randBytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = randInt(256);
  return b;
}
function randBig(bits) {
  let v = 0n;
  for (let i = 0; i < bits; i += 8) v = (v << 8n) | BigInt(randInt(256));
  return v & ((1n << BigInt(bits)) - 1n);
}

function randUint(m) {
  const max = (1n << BigInt(m)) - 1n;
  switch (randInt(6)) {
    case 0: return 0n;
    case 1: return max;
    case 2: return BigInt(randInt(256));
    case 3: return 1n << BigInt(randInt(m));
    default: return randBig(1 + randInt(m));
  }
}
function randIntM(m) {
  const min = -(1n << BigInt(m - 1));
  const max = (1n << BigInt(m - 1)) - 1n;
  switch (randInt(7)) {
    case 0: return min;
    case 1: return max;
    case 2: return -1n;
    case 3: return BigInt(randInt(256)) - 128n;
    case 4: return -randBig(1 + randInt(m - 1));
    default: return randBig(1 + randInt(m - 1));
  }
}
const pieces = ['a', 'node-', 'Z', ' ', '0', 'ß', 'é', '€', '日本', '😀', '\n', '"', '\\', 'cohort'];
function randString() {
  const r = randInt(10);
  if (r === 0) return '';
  if (r === 1) return 'x'.repeat(pick([31, 32, 33, 64, 65]));
  if (r === 2) return 'long string '.repeat(40 + randInt(60));
  let s = '';
  const n = randInt(12);
  for (let i = 0; i < n; i++) s += pick(pieces);
  return s;
}
function randDynBytes() {
  const r = randInt(8);
  if (r === 0) return new Uint8Array(0);
  if (r === 1) return randBytes(pick([1, 31, 32, 33, 63, 64, 65]));
  if (r === 2) return randBytes(500 + randInt(1500));
  return randBytes(randInt(80));
}

// A random value for an ethers ParamType.
function randValue(pt) {
  if (pt.baseType === 'array') {
    const n = pt.arrayLength >= 0 ? pt.arrayLength : pick([0, 0, 1, 2, 3, 5]);
    const out = [];
    for (let i = 0; i < n; i++) out.push(randValue(pt.arrayChildren));
    return out;
  }
  if (pt.baseType === 'tuple') return pt.components.map(randValue);
  const t = pt.type;
  let m;
  if ((m = /^uint(\d*)$/.exec(t))) return randUint(m[1] ? Number(m[1]) : 256);
  if ((m = /^int(\d*)$/.exec(t))) return randIntM(m[1] ? Number(m[1]) : 256);
  if ((m = /^bytes(\d+)$/.exec(t))) return hexlify(randBytes(Number(m[1])));
  if (t === 'bytes') return hexlify(randDynBytes());
  if (t === 'string') return randString();
  if (t === 'bool') return rand() < 0.5;
  if (t === 'address') return getAddress(hexlify(rand() < 0.1 ? new Uint8Array(20) : randBytes(20)));
  throw new Error('no generator for ' + t);
}

// ethers' decoded value as the JSON form described at the top.
function toJson(pt, v) {
  if (pt.baseType === 'array') return Array.from(v).map((x) => toJson(pt.arrayChildren, x));
  if (pt.baseType === 'tuple') return pt.components.map((c, i) => toJson(c, v[i]));
  const t = pt.type;
  if (/^u?int\d*$/.test(t)) return v.toString();
  if (t === 'bool') return v;
  if (t === 'address') return v.toLowerCase();
  if (t === 'string') return hexlify(toUtf8Bytes(v));
  if (/^bytes\d*$/.test(t)) return v.toLowerCase();
  throw new Error('no JSON form for ' + t);
}

const cases = [];
// One case: types is a parameter list "(T1,...,Tn)", values one value per parameter.
function addCase(types, values, note) {
  const tuple = ParamType.from('tuple' + types);
  const encoded = coder.encode(tuple.components, values);
  const decoded = coder.decode(tuple.components, encoded);
  const json = tuple.components.map((c, i) => toJson(c, decoded[i]));
  cases.push({ types, note, values: json, encoded });
}
function addRandom(types, count) {
  const tuple = ParamType.from('tuple' + types);
  for (let i = 0; i < count; i++) addCase(types, tuple.components.map(randValue), 'random');
}

// Boundary values of every integer width, alone and next to a dynamic value.
for (let m = 8; m <= 256; m += 8) {
  const max = (1n << BigInt(m)) - 1n;
  for (const v of [0n, 1n, max]) addCase(`(uint${m})`, [v], 'boundary');
  const smax = (1n << BigInt(m - 1)) - 1n;
  for (const v of [-(1n << BigInt(m - 1)), -1n, 0n, 1n, smax]) addCase(`(int${m})`, [v], 'boundary');
  addCase(`(int${m},string,uint${m})`, [-(1n << BigInt(m - 1)) + 1n, 'w', max - 1n], 'boundary');
}
addCase('(uint,int)', [12345n, -12345n], 'aliases');
// Every bytesM: all ones, and a random value.
for (let m = 1; m <= 32; m++) {
  addCase(`(bytes${m})`, [hexlify(new Uint8Array(m).fill(0xff))], 'boundary');
  addRandom(`(bytes${m},bool)`, 1);
}
addCase('(address,bool,bool)', ['0xffffffffffffffffffffffffffffffffffffffff', true, false], 'boundary');
addCase('(address)', ['0x0000000000000000000000000000000000000000'], 'boundary');
// Empty and long dynamic values.
addCase('(string)', [''], 'empty');
addCase('(bytes)', ['0x'], 'empty');
addCase('(uint256[])', [[]], 'empty');
addCase('(string[])', [[]], 'empty');
addCase('(string[],bytes,uint8[][])', [[''], '0x', [[], [], []]], 'empty');
addCase('((string,bytes)[])', [[]], 'empty');
addCase('(string)', ['a'.repeat(32)], 'exact word');
addCase('(string)', ['b'.repeat(33)], 'word plus one');
addCase('(string)', ['long '.repeat(2000)], 'long');
addCase('(bytes)', [hexlify(randBytes(4096))], 'long');
addCase('(string)', ['héllo wörld 日本語 😀'], 'utf8');
// The manager's calls and nested combinations, several random values each.
const nested = [
  '(string,bytes4,uint16,bytes,string)',
  '(uint256,address[],(bytes,string)[2])',
  '(uint256[],string[],bytes[])',
  '(address[3],bool[2],int16[4])',
  '((uint256,address),(string,bytes32))',
  '((uint8,(string,int64)[])[],uint256)',
  '(uint256[][],string[][2])',
  '(bytes32[2][3],string[2][])',
  '(int8[],uint248[],int200,uint40)',
  '((bool,bytes),(address,string[])[],bytes1[])',
  '(string,(string,(string,(string,uint256))))',
  '(uint256,bool,address,bytes,string,bytes7,int24,uint112[],(int256,string)[1])',
  '((uint256[2],string)[2][])',
  '(bytes[3],string[])',
  '((uint16,uint16)[],(uint32)[2])',
];
for (const t of nested) addRandom(t, 8);

// Functions: selectors of a few signatures and calls for some.
const functions = [];
function addFunction(text, values) {
  const iface = new Interface(['function ' + text]);
  const f = iface.fragments[0];
  const entry = { text, signature: f.format('sighash'), selector: f.selector };
  if (values !== undefined) {
    const data = iface.encodeFunctionData(f, values);
    const decoded = iface.decodeFunctionData(f, data);
    entry.types = '(' + f.inputs.map((p) => p.format('sighash')).join(',') + ')';
    entry.values = f.inputs.map((p, i) => toJson(p, decoded[i]));
    entry.data = data;
  }
  functions.push(entry);
}
addFunction('transfer(address to, uint256 amount)', ['0x00000000000000000000000000000000000000aa', 10n ** 18n]);
addFunction('balanceOf(address)');
addFunction('registerNode(string name, bytes4 ip, uint16 port, bytes publicKey, string domain)',
  ['node-1', '0x7f000001', 10000, hexlify(randBytes(64)), 'node1.example.org']);
addFunction('createChain(string name, uint8 size, uint16 nodes)', ['chain-7', 1, 16]);
addFunction('setNodes(uint256[] ids, (address owner, string name)[] infos)', [[1n, 2n], [['0x00000000000000000000000000000000000000bb', 'n']]]);
addFunction('ping()', []);

// Events: topic 0 of a few signatures and full logs for some.
const events = [];
function addEvent(text, valueSets) {
  const iface = new Interface(['event ' + text]);
  const e = iface.fragments[0];
  const entry = { text, signature: e.format('sighash'), topic0: e.topicHash, logs: [] };
  for (const values of valueSets) {
    const log = iface.encodeEventLog(e, values);
    // The non-indexed values as ethers decodes them from the data; the indexed ones as
    // ethers decodes topics (static ones as values, dynamic ones as their hash).
    const decoded = iface.decodeEventLog(e, log.data, log.topics);
    const json = e.inputs.map((p, i) => {
      if (p.indexed && Indexed.isIndexed(decoded[i])) {
        return { hash: decoded[i].hash };
      }
      return toJson(p, decoded[i]);
    });
    entry.logs.push({ values: json, topics: log.topics, data: log.data });
  }
  events.push(entry);
}
addEvent('Transfer(address indexed from, address indexed to, uint256 value)', [
  ['0x00000000000000000000000000000000000000aa', '0x00000000000000000000000000000000000000bb', 5n],
]);
addEvent('NodeRegistered(uint256 indexed nodeId, address indexed owner, string name, bytes4 ip, uint16 port)', [
  [7n, '0x00000000000000000000000000000000000000cc', 'node-7', '0x0a000001', 10000],
  [(1n << 256n) - 1n, '0xffffffffffffffffffffffffffffffffffffffff', '', '0xffffffff', 65535],
]);
addEvent('ChainCreated(string indexed name, bytes32 indexed chainId, uint8 size, uint256[] nodeIds)', [
  ['chain-one', hexlify(randBytes(32)), 16, [1n, 2n, 3n]],
  ['', '0x' + '00'.repeat(32), 1, []],
]);
addEvent('Assigned(int16 indexed delta, bool indexed active, bytes indexed blob, (string,uint8) info)', [
  [-300, true, '0x0102', ['x', 9]],
]);
addEvent('Paused()', [[]]);
addEvent('Anything(uint256[] values, string note)', [[[1n, 2n], 'n']]);

process.stdout.write(JSON.stringify({ generator: 'ethers ' + (await import('ethers')).version, cases, functions, events }, null, 1) + '\n');
