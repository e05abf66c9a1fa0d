// Compile VerityAnchor.sol with the project-local solc-js (npm solc@0.8.37) into
// VerityAnchor.json (ABI, bytecode and the runtime code a deployed copy holds). `make contracts` runs it; a test recompiles and compares.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "VerityAnchor.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "VerityAnchor.sol": { content: source } },
  settings: {
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const contract = output.contracts["VerityAnchor.sol"].VerityAnchor;
const artifact = {
  contractName: "VerityAnchor",
  compiler: "solc-js " + solc.version(),
  evmVersion: input.settings.evmVersion,
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
const target = process.argv[2] || path.join(__dirname, "VerityAnchor.json");
fs.writeFileSync(target, JSON.stringify(artifact, null, 1) + "\n");
