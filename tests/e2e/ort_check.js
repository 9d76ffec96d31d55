#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime on inputs given as a raw float32 file and writes the
// first output as raw float32 (both little-endian), for engine-to-engine comparisons in
// tests/test_export.c. Unlike bench/ort_run.js it takes the caller's already preprocessed inputs
// and can run ORT without graph optimisations (--exact): ORT's optimiser rewrites QDQ graphs
// (e.g. WeightBiasQuantization quantises float weights that sit between DequantizeLinear and
// QuantizeLinear), so only an unoptimised session executes a QDQ file as ONNX defines it.
//
// usage: node tests/e2e/ort_check.js MODEL.onnx IN.bin DIMS OUT.bin [--exact] [--threads T]
//   DIMS: the input's shape, comma-separated (e.g. 1000,1,28,28); IN.bin holds exactly that.
// Needs onnxruntime-node: bench/install_ort.sh installs it into build/ort.
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE = 'usage: node tests/e2e/ort_check.js MODEL.onnx IN.bin DIMS OUT.bin [--exact] [--threads T]';

function die(msg) {
  process.stderr.write(`ort_check: ${msg}\n`);
  process.exit(1);
}

function loadOrt() {
  const candidates = [
    process.env.ORT_NODE_MODULE,
    path.join(__dirname, '..', '..', 'build', 'ort', 'node_modules', 'onnxruntime-node'),
    'onnxruntime-node',
  ].filter(Boolean);
  for (const c of candidates) {
    try {
      return require(c);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') die(`${c}: ${e.message}`);
    }
  }
  return die('cannot load onnxruntime-node; run bench/install_ort.sh first');
}

async function main() {
  const args = process.argv.slice(2);
  const pos = [];
  let exact = false, threads = 1;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--exact') exact = true;
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '-h' || args[i] === '--help') { process.stdout.write(USAGE + '\n'); return; }
    else if (args[i].startsWith('--')) die(`unknown option '${args[i]}'\n${USAGE}`);
    else pos.push(args[i]);
  }
  if (pos.length !== 4) die(USAGE);
  const [model, inPath, dimsArg, outPath] = pos;
  const dims = dimsArg.split(',').map(Number);
  if (!dims.length || dims.some((d) => !Number.isInteger(d) || d < 1)) die(`bad DIMS '${dimsArg}'`);
  if (!Number.isInteger(threads) || threads < 1) die('--threads needs a positive integer');

  const count = dims.reduce((a, b) => a * b, 1);
  let raw;
  try { raw = fs.readFileSync(inPath); } catch (e) { die(`cannot read ${inPath}: ${e.message}`); }
  if (raw.length !== 4 * count) die(`${inPath} holds ${raw.length} bytes, DIMS need ${4 * count}`);
  const x = new Float32Array(count);
  for (let i = 0; i < count; i++) x[i] = raw.readFloatLE(4 * i);

  const ort = loadOrt();
  let session;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: exact ? 'disabled' : 'all',
    });
  } catch (e) {
    die(`onnxruntime cannot load ${model}: ${e.message}`);
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
  let result;
  try { result = await session.run(feeds); } catch (e) { die(`onnxruntime failed on ${model}: ${e.message}`); }
  const y = result[session.outputNames[0]].data;
  const out = Buffer.alloc(4 * y.length);
  for (let i = 0; i < y.length; i++) out.writeFloatLE(y[i], 4 * i);
  try { fs.writeFileSync(outPath, out); } catch (e) { die(`cannot write ${outPath}: ${e.message}`); }
  if (session.release) await session.release();
}

main().catch((e) => die((e && e.stack) || String(e)));
