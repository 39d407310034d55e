// gen_token.mjs - compiles tests/integration/chain/Token.sol (the ERC-20 of the client tests)
// with the pinned solc-js and writes bench/token_runtime.hex: the deployed (runtime)
// bytecode that bench/chain_bench puts in its genesis, so the bench needs no node or
// compiler when it runs and its figures always come from the same bytes.
//
//   node bench/gen_token.mjs        (from the repository root, after npm ci)
//
// The bench writes token balances straight into the contract's storage, so it relies on
// the storage layout: totalSupply in slot 0, balanceOf (a mapping) in slot 1. This script
// checks that layout and fails if a change to Token.sol moves them.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const solc = require(path.join(root, 'node_modules/solc'));

const source = readFileSync(path.join(root, 'tests/integration/chain/Token.sol'), 'utf8');
// The same settings as tests/integration/chain/clients.mjs, so the bench runs the code the
// client tests deploy.
const input = {
  language: 'Solidity',
  sources: { 'Token.sol': { content: source } },
  settings: {
    evmVersion: 'cancun',
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['evm.deployedBytecode.object', 'storageLayout'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);
const c = out.contracts['Token.sol'].Token;

const slots = Object.fromEntries(c.storageLayout.storage.map((s) => [s.label, Number(s.slot)]));
if (slots.totalSupply !== 0 || slots.balanceOf !== 1)
  throw new Error(`gen_token: Token.sol's layout moved (totalSupply ${slots.totalSupply}, balanceOf ${slots.balanceOf}); ` +
                  'update TOKEN_SUPPLY_SLOT / TOKEN_BALANCE_SLOT in bench/chain_bench.c');

const hex = c.evm.deployedBytecode.object;
if (!/^[0-9a-f]+$/.test(hex) || hex.length === 0) throw new Error('gen_token: no runtime bytecode');
writeFileSync(path.join(here, 'token_runtime.hex'), '0x' + hex + '\n');
console.log(`gen_token: bench/token_runtime.hex: ${hex.length / 2} bytes (solc ${solc.version()})`);
