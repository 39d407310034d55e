// Generates secp_vectors.json: secp256k1 keys, Ethereum addresses and recoverable signatures
// computed by @noble/curves and ethers 6 (implementations independent of common/secp.c), so
// the C test can check ours against them byte for byte.
//
// - keys: about 50 private keys (edge values 1, 2, n-2, n-1 and keccak-derived ones), each
//   with its uncompressed public key (x||y, no 0x04), its address (last 20 bytes of
//   keccak256(x||y)) in lowercase and in EIP-55 form (ethers.getAddress), and signatures of
//   a few 32-byte hashes. Every signature is noble's RFC 6979 deterministic low-s signature
//   (libsecp256k1's default nonce is RFC 6979 too, so ours must be equal), plus its high-s
//   twin (n - s, v ^ 1) that noble checks still recovers the same key.
// - recover_v23: signatures with recovery id 2 or 3 (x = r + n) that noble recovers.
// - unrecoverable: (hash, r, s, v) for which noble finds no public key (r not an x on the curve).
// Run: node tests/vectors/gen_secp_vectors.mjs > tests/vectors/secp_vectors.json
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';
import { computeAddress, getAddress, SigningKey, Signature as EthersSignature } from 'ethers';

const N = secp256k1.CURVE.n;
const P = secp256k1.CURVE.Fp.ORDER;
const hex32 = (x) => x.toString(16).padStart(64, '0');
const fail = (msg) => { process.stderr.write(msg + '\n'); process.exit(1); };

const privateKeys = [1n, 2n, 3n, N - 2n, N - 1n, 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80n];
for (let i = 0; privateKeys.length < 50; i++) {
  const k = BigInt('0x' + bytesToHex(keccak_256(utf8ToBytes(`cohort secp vector key ${i}`))));
  if (k > 0n && k < N) privateKeys.push(k);
}

const fixedHashes = [
  '00'.repeat(32),
  'ff'.repeat(32), // >= n: RFC 6979 reduces it mod n, the signature uses it mod n too
  hex32(N), // exactly n, which is 0 mod n
  hex32(1n),
];

const keys = privateKeys.map((k, i) => {
  const priv = hexToBytes(hex32(k));
  const pub65 = secp256k1.getPublicKey(priv, false);
  const pub = bytesToHex(pub65.slice(1));
  const address = bytesToHex(keccak_256(pub65.slice(1)).slice(12));
  const checksum = getAddress('0x' + address);
  if (computeAddress('0x' + bytesToHex(pub65)).toLowerCase() !== '0x' + address) fail(`address mismatch for key ${i}`);
  if (checksum.toLowerCase() !== '0x' + address) fail(`checksum mismatch for key ${i}`);

  const hashes = [bytesToHex(keccak_256(utf8ToBytes(`cohort secp vector message ${i}`)))];
  hashes.push(fixedHashes[i % fixedHashes.length]);
  const signatures = hashes.map((h) => {
    const hash = hexToBytes(h);
    const sig = secp256k1.sign(hash, priv); // lowS and RFC 6979 by default
    if (sig.s > N / 2n) fail('noble produced a high s');
    const rec = secp256k1.Signature.fromCompact(sig.toCompactHex()).addRecoveryBit(sig.recovery);
    if (bytesToHex(rec.recoverPublicKey(hash).toRawBytes(false).slice(1)) !== pub) fail('recover mismatch');
    // ethers signs through its own SigningKey API; it must agree with noble.
    const es = new SigningKey('0x' + hex32(k)).sign('0x' + h);
    if (es.r !== '0x' + hex32(sig.r) || es.s !== '0x' + hex32(sig.s) || es.yParity !== sig.recovery) fail('ethers/noble disagree');
    const highS = N - sig.s;
    const high = new secp256k1.Signature(sig.r, highS).addRecoveryBit(sig.recovery ^ 1);
    if (bytesToHex(high.recoverPublicKey(hash).toRawBytes(false).slice(1)) !== pub) fail('high-s twin does not recover');
    if (!secp256k1.verify(high, hash, pub65, { lowS: false })) fail('high-s twin does not verify');
    if (secp256k1.verify(high, hash, pub65, { lowS: true })) fail('high-s twin verifies under lowS');
    return { hash: h, r: hex32(sig.r), s: hex32(sig.s), v: sig.recovery, high_s: hex32(highS), high_v: sig.recovery ^ 1 };
  });
  return { private_key: hex32(k), public_key: pub, address, checksum, signatures };
});

// Recovery ids 2 and 3: R's x coordinate is r + n, which exists only for r < p - n.
const recoverV23 = [];
for (let r = 1n; recoverV23.length < 4 && r < 200n; r++) {
  const hash = keccak_256(utf8ToBytes(`cohort secp v23 ${r}`));
  const s = BigInt('0x' + bytesToHex(keccak_256(hash))) % N;
  for (const v of [2, 3]) {
    try {
      const pub = new secp256k1.Signature(r, s).addRecoveryBit(v).recoverPublicKey(hash).toRawBytes(false).slice(1);
      recoverV23.push({ hash: bytesToHex(hash), r: hex32(r), s: hex32(s), v, public_key: bytesToHex(pub) });
    } catch (e) {
      // r + n is not an x on the curve for this r: try the next one.
    }
  }
}
if (recoverV23.length < 2 || P - N < 200n) fail('no v=2/3 cases');

// Signatures noble cannot recover: r is in range but not the x of any curve point.
const unrecoverable = [];
for (let r = 1n; unrecoverable.length < 4 && r < 200n; r++) {
  const hash = keccak_256(utf8ToBytes(`cohort secp unrecoverable ${r}`));
  const s = BigInt('0x' + bytesToHex(keccak_256(hash))) % N;
  let recovered = true;
  try {
    new secp256k1.Signature(r, s).addRecoveryBit(0).recoverPublicKey(hash);
  } catch (e) {
    recovered = false;
  }
  if (!recovered) unrecoverable.push({ hash: bytesToHex(hash), r: hex32(r), s: hex32(s), v: 0 });
}
if (unrecoverable.length < 2) fail('no unrecoverable cases');

// ethers' own view of a signature from the list, as a last cross-check of the (r, s, v) form.
const s0 = keys[5].signatures[0];
const ethersSig = EthersSignature.from({ r: '0x' + s0.r, s: '0x' + s0.s, yParity: s0.v });
if (ethersSig.v !== 27 + s0.v) fail('ethers signature v');

const out = {
  generator: 'tests/vectors/gen_secp_vectors.mjs (@noble/curves secp256k1, ethers 6)',
  n: hex32(N),
  half_n: hex32(N / 2n),
  keys,
  recover_v23: recoverV23,
  unrecoverable,
};
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
