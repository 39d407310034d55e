// Generates keccak_vectors.json: Keccak-256 digests from @noble/hashes (an implementation
// independent of ours) for messages of every length 0..400 and a few long ones.
// Message i of length n is bytes (i * 7 + n) & 0xff for i in 0..n-1.
// Run: node tests/vectors/gen_keccak_vectors.mjs > tests/vectors/keccak_vectors.json
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex } from '@noble/hashes/utils';

const lengths = [];
for (let n = 0; n <= 400; n++) lengths.push(n);
lengths.push(1000, 4096, 65536, 1000000);
const cases = lengths.map((n) => {
  const msg = new Uint8Array(n);
  for (let i = 0; i < n; i++) msg[i] = (i * 7 + n) & 0xff;
  return { length: n, digest: bytesToHex(keccak_256(msg)) };
});
process.stdout.write(JSON.stringify({ pattern: '(i * 7 + length) & 0xff', cases }, null, 1) + '\n');
