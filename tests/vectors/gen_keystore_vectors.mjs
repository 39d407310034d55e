// Generates keystore_vectors.json: V3 keystores written by implementations other than ours.
//  - scrypt keystores encrypted by ethers 6 (encryptKeystoreJson with a small scrypt N so tests are fast,
//    and one with ethers' default N = 131072);
//  - pbkdf2 keystores built with Node's crypto (pbkdf2Sync, aes-128-ctr) and @noble/hashes keccak,
//    following the Web3 Secret Storage definition.
// Run: node tests/vectors/gen_keystore_vectors.mjs > tests/vectors/keystore_vectors.json
import { Wallet, encryptKeystoreJson } from 'ethers';
import crypto from 'node:crypto';
import { keccak_256 } from '@noble/hashes/sha3';

const cases = [];
const keys = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d',
];
const passwords = ['testpassword', '', 'pässwörd with spaces'];
for (let i = 0; i < keys.length; i++) {
  const w = new Wallet(keys[i]);
  const json = await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, passwords[i], { scrypt: { N: 1 << 12 } });
  cases.push({ kdf: 'scrypt', writer: 'ethers', password: passwords[i], privateKey: keys[i], address: w.address, keystore: JSON.parse(json) });
}
{
  const w = new Wallet(keys[0]);
  const json = await w.encrypt('default-n');
  cases.push({ kdf: 'scrypt', writer: 'ethers (default N)', password: 'default-n', privateKey: keys[0], address: w.address, keystore: JSON.parse(json) });
}
for (let i = 0; i < keys.length; i++) {
  const w = new Wallet(keys[i]);
  const salt = crypto.randomBytes(32), iv = crypto.randomBytes(16), c = 4096;
  const derived = crypto.pbkdf2Sync(Buffer.from(passwords[i], 'utf8'), salt, c, 32, 'sha256');
  const cipher = crypto.createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(keys[i].slice(2), 'hex')), cipher.final()]);
  const mac = Buffer.from(keccak_256(Buffer.concat([derived.subarray(16, 32), ciphertext])));
  cases.push({
    kdf: 'pbkdf2', writer: 'node crypto', password: passwords[i], privateKey: keys[i], address: w.address,
    keystore: {
      address: w.address.slice(2).toLowerCase(), id: crypto.randomUUID(), version: 3,
      crypto: { cipher: 'aes-128-ctr', cipherparams: { iv: iv.toString('hex') }, ciphertext: ciphertext.toString('hex'),
        kdf: 'pbkdf2', kdfparams: { c, dklen: 32, prf: 'hmac-sha256', salt: salt.toString('hex') }, mac: mac.toString('hex') },
    },
  });
}
process.stdout.write(JSON.stringify({ cases }, null, 1) + '\n');
