// Generates curves_vectors.json: inputs and expected outputs of the bn254 precompiles
// (ecAdd 0x06, ecMul 0x07, ecPairing 0x08) and of EIP-4844's point evaluation (0x0a), computed
// with @noble/curves (an implementation independent of subnode/crypto) and @noble/hashes.
// Every case is {name, input, output}: output is the precompile's output in hex, or null when
// the precompile must fail (invalid input: the call consumes all its gas).
// Randomness comes from sha256 of a counter, so the file is the same on every run.
// Run: node tests/vectors/gen_curves_vectors.mjs > tests/vectors/curves_vectors.json
import { bn254 } from '@noble/curves/bn254';
import { bls12_381 } from '@noble/curves/bls12-381';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';

let counter = 0;
function randBig(bits) {
  let hex = '';
  while (hex.length * 4 < bits) {
    const c = new Uint8Array(8);
    new DataView(c.buffer).setBigUint64(0, BigInt(counter++));
    hex += bytesToHex(sha256(c));
  }
  return BigInt('0x' + hex) & ((1n << BigInt(bits)) - 1n);
}
const w = (v, bytes = 32) => v.toString(16).padStart(bytes * 2, '0');

// ---------------------------------------------------------------- bn254
const BN = bn254;
const G1 = BN.G1.Point ?? BN.G1.ProjectivePoint;
const G2 = BN.G2.Point ?? BN.G2.ProjectivePoint;
const { Fp2, Fp12 } = BN.fields;
const P_BN = BN.fields.Fp.ORDER;
const R_BN = BN.fields.Fr ? BN.fields.Fr.ORDER : 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

function mulG1(P, k) {
  k %= R_BN;
  return k === 0n ? G1.ZERO : P.multiply(k);
}
function mulG2(Q, k) {
  k %= R_BN;
  return k === 0n ? G2.ZERO : Q.multiply(k);
}
function encG1(P) {
  if (P.equals(G1.ZERO)) return w(0n) + w(0n);
  const a = P.toAffine();
  return w(a.x) + w(a.y);
}
// EIP-197: each Fp2 coordinate a + b*i is written b first.
function encG2(Q) {
  if (Q.equals(G2.ZERO)) return w(0n).repeat(4);
  const a = Q.toAffine();
  return w(a.x.c1) + w(a.x.c0) + w(a.y.c1) + w(a.y.c0);
}
const randG1 = () => mulG1(G1.BASE, randBig(256));
const randG2 = () => mulG2(G2.BASE, randBig(256));

const add = [];
const mul = [];
const pairing = [];

// ecAdd
for (let i = 0; i < 24; i++) {
  const a = randG1(), b = randG1();
  add.push({ name: `random ${i}`, input: encG1(a) + encG1(b), output: encG1(a.add(b)) });
}
{
  const a = randG1();
  add.push({ name: 'P + P', input: encG1(a) + encG1(a), output: encG1(a.double()) });
  add.push({ name: 'P + -P', input: encG1(a) + encG1(a.negate()), output: encG1(G1.ZERO) });
  add.push({ name: 'O + P', input: encG1(G1.ZERO) + encG1(a), output: encG1(a) });
  add.push({ name: 'P + O', input: encG1(a) + encG1(G1.ZERO), output: encG1(a) });
  add.push({ name: 'O + O', input: encG1(G1.ZERO) + encG1(G1.ZERO), output: encG1(G1.ZERO) });
  add.push({ name: 'empty input is O + O', input: '', output: encG1(G1.ZERO) });
  // Right padding: a 64-byte input is P + O; a 100-byte input ends inside x2.
  add.push({ name: 'only P1 (64 bytes)', input: encG1(a), output: encG1(a) });
  add.push({ name: 'P1 + O cut after 31 bytes of its y', input: encG1(a) + w(0n) + w(0n).slice(0, 62), output: encG1(a) });
  add.push({ name: 'extra bytes ignored', input: encG1(a) + encG1(a) + 'ff'.repeat(40), output: encG1(a.double()) });
  add.push({ name: 'x = p', input: w(P_BN) + w(2n) + encG1(a), output: null });
  add.push({ name: 'y = p + 2 (valid mod p)', input: w(1n) + w(P_BN + 2n) + encG1(a), output: null });
  add.push({ name: '(1, 3) not on curve', input: w(1n) + w(3n) + encG1(a), output: null });
  add.push({ name: 'second point (0, 1) not on curve', input: encG1(a) + w(0n) + w(1n), output: null });
  add.push({ name: 'second point cut to (1, 0) by padding', input: encG1(a) + w(1n), output: null });
}

// ecMul
const specialScalars = [0n, 1n, 2n, R_BN - 1n, R_BN, R_BN + 1n, (1n << 256n) - 1n, 1n << 255n];
for (const k of specialScalars) {
  const a = randG1();
  mul.push({ name: `scalar 0x${k.toString(16)}`, input: encG1(a) + w(k), output: encG1(mulG1(a, k)) });
}
for (let i = 0; i < 24; i++) {
  const a = randG1();
  const k = randBig(i % 3 === 0 ? 64 : 256);
  mul.push({ name: `random ${i}`, input: encG1(a) + w(k), output: encG1(mulG1(a, k)) });
}
{
  const k = randBig(256);
  mul.push({ name: 'O times k', input: encG1(G1.ZERO) + w(k), output: encG1(G1.ZERO) });
  mul.push({ name: 'empty input', input: '', output: encG1(G1.ZERO) });
  mul.push({ name: 'scalar cut to one byte 0x02 (padding)', input: encG1(G1.BASE) + '02', output: encG1(mulG1(G1.BASE, 2n << 248n)) });
  mul.push({ name: 'no scalar: times 0', input: encG1(G1.BASE), output: encG1(G1.ZERO) });
  mul.push({ name: 'extra bytes ignored', input: encG1(G1.BASE) + w(3n) + 'ab'.repeat(10), output: encG1(mulG1(G1.BASE, 3n)) });
  mul.push({ name: 'x = p', input: w(P_BN) + w(2n) + w(k), output: null });
  mul.push({ name: '(1, 3) not on curve', input: w(1n) + w(3n) + w(k), output: null });
  mul.push({ name: '(1, 3) times 0 still fails', input: w(1n) + w(3n) + w(0n), output: null });
}

// ecPairing
const one = w(1n), zero = w(0n);
const isOne = (pairs) => Fp12.eql(BN.pairingBatch(pairs.map(([g1, g2]) => ({ g1, g2 }))), Fp12.ONE);
function pairingCase(name, pairs) {
  // noble's pairingBatch skips nothing for infinity; e(O, Q) = e(P, O) = 1, so drop them first.
  const finite = pairs.filter(([p, q]) => !p.equals(G1.ZERO) && !q.equals(G2.ZERO));
  const ok = finite.length === 0 ? true : isOne(finite);
  pairing.push({ name, input: pairs.map(([p, q]) => encG1(p) + encG2(q)).join(''), output: ok ? one : zero });
}
pairingCase('empty input', []);
for (let i = 0; i < 4; i++) {
  const a = randBig(256) % R_BN, b = randBig(256) % R_BN;
  const P = randG1(), Q = randG2();
  pairingCase(`e(aP, bQ) e(-abP, Q) ${i}`, [[mulG1(P, a), mulG2(Q, b)], [mulG1(P, a * b).negate(), Q]]);
  pairingCase(`e(aP, bQ) e(-abP + P, Q) ${i}`, [[mulG1(P, a), mulG2(Q, b)], [mulG1(P, a * b).negate().add(P), Q]]);
}
{
  const P = randG1(), Q = randG2();
  pairingCase('one pair e(P, Q)', [[P, Q]]);
  pairingCase('e(P, Q) e(-P, Q)', [[P, Q], [P.negate(), Q]]);
  pairingCase('e(P, Q) e(P, -Q)', [[P, Q], [P, Q.negate()]]);
  pairingCase('e(O, Q)', [[G1.ZERO, Q]]);
  pairingCase('e(P, O)', [[P, G2.ZERO]]);
  pairingCase('e(P, Q) e(O, Q) e(-P, Q)', [[P, Q], [G1.ZERO, Q], [P.negate(), Q]]);
  pairingCase('e(P, Q) e(P, O)', [[P, Q], [P, G2.ZERO]]);
  // Ten pairs: crosses an internal batch boundary; the sum of the scalars is zero.
  const ks = [];
  for (let i = 0; i < 9; i++) ks.push(randBig(256) % R_BN);
  const last = (R_BN - (ks.reduce((s, k) => s + k, 0n) % R_BN)) % R_BN;
  ks.push(last);
  const tenPairs = ks.map((k, i) => [mulG1(P, k), i % 2 ? Q : Q]);
  pairingCase('ten pairs summing to zero', tenPairs);
  tenPairs[3] = [tenPairs[3][0].double(), Q];
  pairingCase('ten pairs not summing to zero', tenPairs);
  const pairs17 = [];
  for (let i = 0; i < 17; i++) {
    const a = randBig(256) % R_BN;
    pairs17.push([mulG1(P, a), mulG2(Q, 1n)]);
    pairs17.push([mulG1(P, a).negate(), Q]);
  }
  pairingCase('34 pairs cancelling in couples', pairs17);

  const good = encG1(P) + encG2(Q);
  pairing.push({ name: 'length 191', input: good.slice(0, 382), output: null });
  pairing.push({ name: 'length 193', input: good + '00', output: null });
  pairing.push({ name: 'length 1', input: '00', output: null });
  // Invalid points fail the whole call, even when paired with infinity.
  const qa = Q.toAffine();
  pairing.push({ name: 'G1 x = p', input: w(P_BN) + zero + encG2(Q), output: null });
  pairing.push({ name: 'G1 not on curve', input: w(1n) + w(3n) + encG2(Q), output: null });
  pairing.push({ name: 'G1 not on curve with G2 = O', input: w(1n) + w(3n) + encG2(G2.ZERO), output: null });
  pairing.push({ name: 'G2 x_im = p', input: encG1(P) + w(P_BN) + w(qa.x.c0) + w(qa.y.c1) + w(qa.y.c0), output: null });
  pairing.push({ name: 'G2 y_re = p + y_re', input: encG1(P) + w(qa.x.c1) + w(qa.x.c0) + w(qa.y.c1) + w(qa.y.c0 + P_BN), output: null });
  pairing.push({ name: 'G2 swapped halves (not on curve)', input: encG1(P) + w(qa.x.c0) + w(qa.x.c1) + w(qa.y.c0) + w(qa.y.c1), output: null });
  // Points of the twist outside the order-r subgroup: x random, y = sqrt(x^3 + b').
  const b2 = Fp2.div(Fp2.fromBigTuple([3n, 0n]), Fp2.fromBigTuple([9n, 1n]));
  let found = 0;
  while (found < 3) {
    const x = Fp2.fromBigTuple([randBig(256) % P_BN, randBig(256) % P_BN]);
    const rhs = Fp2.add(Fp2.mul(Fp2.sqr(x), x), b2);
    let y;
    try { y = Fp2.sqrt(rhs); } catch { continue; }
    if (!Fp2.eql(Fp2.sqr(y), rhs)) continue;
    const pt = G2.fromAffine({ x, y });
    if (pt.multiplyUnsafe(R_BN - 1n).equals(pt.negate())) continue; // [r]pt = O: in the subgroup
    const enc = w(x.c1) + w(x.c0) + w(y.c1) + w(y.c0);
    pairing.push({ name: `G2 on twist, not in subgroup ${found}`, input: encG1(P) + enc, output: null });
    pairing.push({ name: `G2 on twist, not in subgroup, G1 = O ${found}`, input: encG1(G1.ZERO) + enc, output: null });
    found++;
  }
}

// ---------------------------------------------------------------- point evaluation (EIP-4844)
const BLS = bls12_381;
const B1 = BLS.G1.Point ?? BLS.G1.ProjectivePoint;
const R_BLS = BLS.fields.Fr.ORDER;
const P_BLS = BLS.fields.Fp.ORDER;
const evalOutput = w(4096n) + w(R_BLS);
const INF48 = 'c0' + '00'.repeat(47);
const encC = (P) => (P.equals(B1.ZERO) ? INF48 : bytesToHex(P.toRawBytes(true)));
function versionedHash(commitmentHex) {
  const h = sha256(Buffer.from(commitmentHex, 'hex'));
  h[0] = 0x01;
  return bytesToHex(h);
}
const pointEvaluation = [];
function evalCase(name, commitment, z, y, proof, ok, hash) {
  const input = (hash ?? versionedHash(commitment)) + w(z) + w(y) + commitment + proof;
  pointEvaluation.push({ name, input, output: ok ? evalOutput : null });
}
// A constant polynomial p(X) = c: commitment [c]G1, and the quotient (p(X) - c)/(X - z) = 0, so
// the proof is the point at infinity for every z.
for (let i = 0; i < 6; i++) {
  const c = i === 0 ? 0n : randBig(256) % R_BLS;
  const z = i === 1 ? 0n : randBig(256) % R_BLS;
  const C = c === 0n ? B1.ZERO : B1.BASE.multiply(c);
  evalCase(`constant polynomial ${i}`, encC(C), z, c, INF48, true);
  evalCase(`constant polynomial ${i}, y + 1`, encC(C), z, (c + 1n) % R_BLS, INF48, false);
}
{
  const c = randBig(256) % R_BLS;
  const C = encC(B1.BASE.multiply(c));
  const z = randBig(256) % R_BLS;
  evalCase('proof = G1 instead of infinity', C, z, c, encC(B1.BASE), false);
  evalCase('z = r', C, R_BLS, c, INF48, false);
  evalCase('y = r + c', C, z, R_BLS + c, INF48, false);
  evalCase('wrong versioned hash', C, z, c, INF48, false, versionedHash(INF48));
  const vh = versionedHash(C);
  evalCase('version byte 0x02', C, z, c, INF48, false, '02' + vh.slice(2));
  const good = vh + w(z) + w(c) + C + INF48;
  pointEvaluation.push({ name: 'length 191', input: good.slice(0, 382), output: null });
  pointEvaluation.push({ name: 'length 193', input: good + '00', output: null });
  pointEvaluation.push({ name: 'empty', input: '', output: null });
  // Malformed compressed points.
  const flags = (hex, set, clear) => w((BigInt('0x' + hex) | set) & ~clear, 48);
  const top = 1n << 383n, inf = 1n << 382n, sign = 1n << 381n;
  evalCase('commitment without compression flag', flags(C, 0n, top), z, c, INF48, false);
  evalCase('infinity with sign bit', encC(B1.ZERO).replace(/^c0/, 'e0'), z, 0n, INF48, false);
  evalCase('infinity with a non-zero x bit', 'c0' + '00'.repeat(46) + '01', z, 0n, INF48, false);
  evalCase('infinity flag without compression', '40' + '00'.repeat(47), z, 0n, INF48, false);
  evalCase('proof infinity flag on a non-zero x', C, z, c, flags(C, inf, 0n), false);
  evalCase('commitment with flipped sign (the other y)', flags(C, sign, 0n) === C ? flags(C, 0n, sign) : flags(C, sign, 0n), z, c, INF48, false);
  evalCase('commitment x = p', w(P_BLS | top, 48), z, c, INF48, false);
  // x not on the curve (x^3 + 4 a non-square), and a point on the curve outside G1.
  const Fp = BLS.fields.Fp;
  let notOnCurve = null, notInGroup = null;
  while (notOnCurve === null || notInGroup === null) {
    const x = randBig(381) % P_BLS;
    const rhs = Fp.add(Fp.mul(Fp.sqr(x), x), 4n);
    let y = null;
    try { y = Fp.sqrt(rhs); if (!Fp.eql(Fp.sqr(y), rhs)) y = null; } catch { y = null; }
    if (y === null) {
      if (notOnCurve === null) notOnCurve = w(x | top, 48);
      continue;
    }
    const pt = B1.fromAffine({ x, y });
    if (pt.multiplyUnsafe(R_BLS - 1n).equals(pt.negate())) continue; // [r]pt = O: in G1
    const larger = y > (P_BLS - 1n) / 2n;
    if (notInGroup === null) notInGroup = w(x | top | (larger ? sign : 0n), 48);
  }
  evalCase('commitment x not on the curve', notOnCurve, z, c, INF48, false);
  evalCase('commitment on the curve, not in G1', notInGroup, z, c, INF48, false);
  evalCase('proof on the curve, not in G1', C, z, c, notInGroup, false);
}

const out = {
  source: '@noble/curves 1.9.5 and @noble/hashes (sha256); generated by tests/vectors/gen_curves_vectors.mjs',
  bn254_add: add,
  bn254_mul: mul,
  bn254_pairing: pairing,
  point_evaluation: pointEvaluation,
};
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
