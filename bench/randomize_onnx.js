#!/usr/bin/env node
// Gives every float initializer of an ONNX model deterministic random values, in place of the
// constants of a committed fixture: node bench/randomize_onnx.js IN.onnx[.gz] OUT.onnx [SEED]
// Values are uniform in +-sqrt(6 / fan_in) (fan_in = product of the dims after the first; a
// rank-1 tensor such as a bias gets +-0.01), so activations keep their scale through the
// layers. Rank-0 tensors (Clip bounds, shape constants) are left alone. Only raw_data bytes
// are rewritten, so the protobuf framing is unchanged.
'use strict';
const fs = require('fs');
const zlib = require('zlib');

function fail(msg) { process.stderr.write(`randomize_onnx: ${msg}\n`); process.exit(1); }

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Minimal protobuf reader over buf[pos, end): calls fn(field, wire, start, end) per field.
function fields(buf, pos, end, fn) {
  const varint = () => {
    let v = 0, mul = 1;
    for (;;) {
      if (pos >= end) throw new Error('truncated varint');
      const b = buf[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (pos < end) {
    const key = varint(), field = Math.floor(key / 8), wire = key & 7;
    let start = pos, stop;
    if (wire === 0) { varint(); stop = pos; }
    else if (wire === 1) { pos += 8; stop = pos; }
    else if (wire === 5) { pos += 4; stop = pos; }
    else if (wire === 2) { const len = varint(); start = pos; pos += len; stop = pos; }
    else throw new Error(`unsupported wire type ${wire}`);
    if (pos > end) throw new Error('truncated field');
    fn(field, wire, start, stop, wire === 0 ? readVarint(buf, start) : 0);
  }
}

function readVarint(buf, pos) {
  let v = 0, mul = 1;
  for (;;) { const b = buf[pos++]; v += (b & 0x7f) * mul; if (b < 0x80) return v; mul *= 128; }
}

function randomizeTensor(buf, start, end, rand) {
  const dims = []; let type = 0, raw = null;
  fields(buf, start, end, (f, wire, s, e, v) => {
    if (f === 1 && wire === 0) dims.push(v);
    else if (f === 1 && wire === 2) { let p = s; while (p < e) { dims.push(readVarint(buf, p)); while (buf[p++] >= 0x80); } }
    else if (f === 2) type = v;
    else if (f === 9) raw = [s, e];
  });
  if (type !== 1 || !raw || dims.length === 0) return 0;
  const fanIn = dims.slice(1).reduce((a, b) => a * b, 1);
  const bound = dims.length === 1 ? 0.01 : Math.sqrt(6 / fanIn);
  for (let p = raw[0]; p + 4 <= raw[1]; p += 4) buf.writeFloatLE((rand() * 2 - 1) * bound, p);
  return (raw[1] - raw[0]) / 4;
}

function main() {
  const [inPath, outPath, seedArg] = process.argv.slice(2);
  if (!inPath || !outPath) fail('usage: node bench/randomize_onnx.js IN.onnx[.gz] OUT.onnx [SEED]');
  let buf;
  try { buf = fs.readFileSync(inPath); } catch (e) { fail(`cannot read ${inPath}: ${e.message}`); }
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  const rand = mulberry32(seedArg === undefined ? 1 : Number(seedArg));
  let count = 0;
  try {
    fields(buf, 0, buf.length, (f, wire, s, e) => {
      if (f !== 7 || wire !== 2) return; // ModelProto.graph
      fields(buf, s, e, (gf, gw, gs, ge) => {
        if (gf === 5 && gw === 2) count += randomizeTensor(buf, gs, ge, rand); // initializer
      });
    });
  } catch (e) { fail(`${inPath}: not a valid ONNX model (${e.message})`); }
  fs.writeFileSync(outPath, buf);
  process.stderr.write(`randomize_onnx: ${outPath}: ${count} float values randomised\n`);
}

main();
