// Decrypts a keystore file with ethers 6 and prints its address and private key as JSON.
// Used by tests to check that keystores we write open in ethers.
// Usage: node tests/vectors/ethers_decrypt.mjs FILE PASSWORD
import { Wallet } from 'ethers';
import fs from 'node:fs';

const [file, password] = process.argv.slice(2);
const w = await Wallet.fromEncryptedJson(fs.readFileSync(file, 'utf8'), password);
process.stdout.write(JSON.stringify({ address: w.address, privateKey: w.privateKey }) + '\n');
