#!/usr/bin/env node
// compile.mjs - compiles the manager contracts (contracts-abi/contracts/*.sol) with the solc-js
// pinned in package.json and writes one artifact per contract to contracts-abi/artifacts/<Name>.json:
// the ABI, the creation and deployed bytecode, the compiler version and the settings.
//
//   node contracts-abi/scripts/compile.mjs          write the artifacts
//   node contracts-abi/scripts/compile.mjs --check  recompile in memory and compare with the
//                                                   committed artifacts; exit 1 on any mismatch
//
// The artifacts are committed so that the C code (and operators) can use the ABI and deploy
// the bytecode without a Solidity compiler; --check (a ctest test) keeps them honest. The
// bytecode ends with the metadata hash of the sources, so even a changed comment shows.
// Compiler warnings are errors here, as -Werror is for the C code.
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const folder = resolve(here, '..'); // contracts-abi/
const repo = resolve(folder, '..');
const contractsDir = join(folder, 'contracts');
const artifactsDir = join(folder, 'artifacts');

// The solc the artifacts are built with: package.json pins it, and a different one installed
// in node_modules would produce different bytecode, so say that instead of a confusing diff.
const PINNED = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).dependencies.solc;
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'ipfs' },
};

function fail(message) {
  process.stderr.write(`compile.mjs: ${message}\n`);
  process.exit(1);
}

function compile() {
  let solc;
  try {
    solc = require('solc');
  } catch (e) {
    fail(`cannot load solc from node_modules (${e.message}); run scripts/setup.sh`);
  }
  const version = solc.version();
  if (!version.startsWith(PINNED + '+')) {
    fail(`solc ${version} is installed but package.json pins ${PINNED}; run npm ci`);
  }
  const sources = {};
  for (const file of readdirSync(contractsDir).filter((f) => f.endsWith('.sol')).sort()) {
    sources[`contracts/${file}`] = { content: readFileSync(join(contractsDir, file), 'utf8') };
  }
  if (Object.keys(sources).length === 0) fail(`no .sol files in ${contractsDir}`);
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = output.errors ?? [];
  if (problems.length > 0) {
    // Warnings count too: the artifacts only come from sources that compile cleanly.
    fail('solc reported:\n' + problems.map((p) => p.formattedMessage ?? p.message).join('\n'));
  }
  const artifacts = {};
  for (const [sourceName, contracts] of Object.entries(output.contracts)) {
    for (const [contractName, c] of Object.entries(contracts)) {
      const bytecode = c.evm.bytecode.object;
      if (bytecode.length === 0) continue; // interfaces and abstract contracts have no artifact
      artifacts[contractName] = {
        contractName,
        sourceName,
        compiler: { name: 'solc-js', version },
        settings: SETTINGS,
        abi: c.abi,
        bytecode: '0x' + bytecode,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
    }
  }
  return artifacts;
}

function serialize(artifact) {
  return JSON.stringify(artifact, null, 2) + '\n';
}

// Which top-level fields of two artifacts differ: what the mismatch message names.
function differingFields(committedText, fresh) {
  let committed;
  try {
    committed = JSON.parse(committedText);
  } catch (e) {
    return [`(the committed file is not JSON: ${e.message})`];
  }
  const keys = new Set([...Object.keys(committed), ...Object.keys(fresh)]);
  return [...keys].filter((k) => JSON.stringify(committed[k]) !== JSON.stringify(fresh[k]));
}

const check = process.argv.includes('--check');
const unknown = process.argv.slice(2).filter((a) => a !== '--check');
if (unknown.length > 0) fail(`unknown argument ${unknown[0]}; usage: compile.mjs [--check]`);

const artifacts = compile();
if (check) {
  const mismatches = [];
  for (const [name, artifact] of Object.entries(artifacts)) {
    const path = join(artifactsDir, `${name}.json`);
    if (!existsSync(path)) {
      mismatches.push(`${path} is missing`);
      continue;
    }
    const committed = readFileSync(path, 'utf8');
    if (committed !== serialize(artifact)) {
      const fields = differingFields(committed, artifact);
      mismatches.push(`${path} does not match the sources (differs in: ${fields.join(', ') || 'formatting'})`);
    }
  }
  for (const file of existsSync(artifactsDir) ? readdirSync(artifactsDir) : []) {
    if (file.endsWith('.json') && !(file.slice(0, -5) in artifacts)) {
      mismatches.push(`${join(artifactsDir, file)} belongs to no contract in ${contractsDir}: remove it`);
    }
  }
  if (mismatches.length > 0) {
    fail(mismatches.join('\n') + '\nrun `node contracts-abi/scripts/compile.mjs` and commit the artifacts');
  }
  console.log(`compile.mjs: ${Object.keys(artifacts).join(', ')} match the sources (solc ${PINNED})`);
} else {
  for (const [name, artifact] of Object.entries(artifacts)) {
    const path = join(artifactsDir, `${name}.json`);
    writeFileSync(path, serialize(artifact));
    const size = (artifact.deployedBytecode.length - 2) / 2;
    console.log(`compile.mjs: wrote ${path} (deployed code ${size} bytes)`);
  }
}
