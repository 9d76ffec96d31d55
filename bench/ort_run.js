#!/usr/bin/env node
// Peer-measurement harness: evaluates an ONNX image classifier with ONNX Runtime
// (npm package onnxruntime-node, CPU execution provider) on the Fashion-MNIST test
// split and prints one CSV record (with header) to stdout.
//
// Install the runtime first: bench/install_ort.sh (installs into build/ort).
// See bench/README.md for what is measured and how.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const USAGE = `usage: node bench/ort_run.js MODEL.onnx [--data DIR] [--limit N] [--batch B]
         [--threads T] [--latency-seconds S] [--dump-logits N OUT.bin] [--latency-only]

  --data DIR             test split (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]);
                         default /usr/share/datasets/fashion-mnist
  --limit N              evaluate only the first N images (0 = all; default all)
  --batch B              evaluation batch size (default 256)
  --threads T            intra-op threads (default 2); inter-op threads are always 1
  --latency-only         batch-1 latency on a zero input of the model's shape; no data,
                         empty throughput and accuracy columns
  --latency-seconds S    duration of the batch-1 latency measurement (default 2; 0 = skip)
  --dump-logits N OUT    write float32 little-endian logits of the first N images to OUT`;

const CSV_HEADER = 'engine,model,threads,batch,images,correct,top1,images_per_s,images_per_cpu_s,' +
  'lat_median_ms,lat_min_ms,lat_max_ms';

class UserError extends Error {}
const fail = (msg) => { throw new UserError(msg); };
const note = (msg) => process.stderr.write(`ort_run: ${msg}\n`);

// ---------------------------------------------------------------- arguments

function parseIntArg(name, s, min) {
  if (s === undefined) fail(`${name} needs a value\n${USAGE}`);
  if (!/^\d+$/.test(s)) fail(`${name}: not a non-negative integer: '${s}'`);
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min) fail(`${name}: must be an integer >= ${min}, got '${s}'`);
  return v;
}

function parseArgs(argv) {
  const o = {
    model: null, data: '/usr/share/datasets/fashion-mnist', limit: 0, batch: 256, threads: 2,
    latencySeconds: 2, dumpN: 0, dumpPath: null, latencyOnly: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      case '--data': if (argv[i + 1] === undefined) fail(`--data needs a value\n${USAGE}`); o.data = argv[++i]; break;
      case '--latency-only': o.latencyOnly = true; break;
      case '--limit': o.limit = parseIntArg(a, argv[++i], 0); break;
      case '--batch': o.batch = parseIntArg(a, argv[++i], 1); break;
      case '--threads': o.threads = parseIntArg(a, argv[++i], 1); break;
      case '--latency-seconds': {
        const s = argv[++i];
        const v = Number(s);
        if (s === undefined || s.trim() === '' || !Number.isFinite(v) || v < 0) {
          fail(`--latency-seconds: not a non-negative number: '${s}'`);
        }
        o.latencySeconds = v;
        break;
      }
      case '--dump-logits':
        o.dumpN = parseIntArg(a, argv[++i], 1);
        o.dumpPath = argv[++i];
        if (!o.dumpPath) fail(`--dump-logits needs N and OUT.bin\n${USAGE}`);
        break;
      default:
        if (a.startsWith('-') && a !== '-') fail(`unknown option '${a}'\n${USAGE}`);
        if (o.model !== null) fail(`more than one model given ('${o.model}', '${a}')\n${USAGE}`);
        o.model = a;
    }
  }
  if (o.model === null) fail(`no model given\n${USAGE}`);
  return o;
}

// ---------------------------------------------------------------- onnxruntime

function loadOrt() {
  const candidates = [
    process.env.ORT_NODE_MODULE,
    path.join(__dirname, '..', 'build', 'ort', 'node_modules', 'onnxruntime-node'),
    'onnxruntime-node',
  ].filter(Boolean);
  const errors = [];
  for (const c of candidates) {
    try {
      const ort = require(c);
      let version = ort.env && ort.env.versions && ort.env.versions.node;
      if (!version) version = require(path.join(path.dirname(require.resolve(c)), '..', 'package.json')).version;
      return { ort, version };
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') errors.push(`${c}: ${e.message}`);
    }
  }
  fail('cannot load onnxruntime-node; run bench/install_ort.sh first' +
    (errors.length ? `\n  ${errors.join('\n  ')}` : ''));
}

// ---------------------------------------------------------------- ONNX metadata_props

// Minimal protobuf walk of ModelProto: field 14 = repeated StringStringEntryProto
// metadata_props {key = 1, value = 2}. Every other field is skipped by wire type.
function readModelMetadata(buf) {
  let pos = 0;
  const end = buf.length;
  const varint = (limit) => {
    let v = 0, mul = 1;
    for (let n = 0; n < 10; n++) {
      if (pos >= limit) throw new Error('truncated varint');
      const b = buf[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error('bad varint');
  };
  const skip = (wire, limit) => {
    switch (wire) {
      case 0: varint(limit); return;
      case 1: pos += 8; break;
      case 2: { const len = varint(limit); pos += len; break; }
      case 5: pos += 4; break;
      default: throw new Error(`unsupported wire type ${wire}`);
    }
    if (pos > limit) throw new Error('truncated field');
  };
  const str = (limit) => {
    const len = varint(limit);
    if (pos + len > limit) throw new Error('truncated string');
    const s = buf.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const props = {};
  while (pos < end) {
    const tag = varint(end);
    const field = Math.floor(tag / 8), wire = tag % 8;
    if (field === 14 && wire === 2) {
      const len = varint(end);
      const stop = pos + len;
      if (stop > end) throw new Error('truncated metadata_props entry');
      let key = '', value = '';
      while (pos < stop) {
        const t = varint(stop);
        const f = Math.floor(t / 8), w = t % 8;
        if (f === 1 && w === 2) key = str(stop);
        else if (f === 2 && w === 2) value = str(stop);
        else skip(w, stop);
      }
      props[key] = value;
    } else {
      skip(wire, end);
    }
  }
  return props;
}

function parseNumber(key, s) {
  const t = s.trim();
  const v = Number(t);
  if (t === '' || !Number.isFinite(v)) fail(`model metadata ${key}: not a number: '${s}'`);
  return v;
}

// Preprocessing from metadata_props (preprocess.scale/mean/std), else identity.
function preprocessFromMetadata(props, channels) {
  const list = (key, dflt) => {
    if (props[key] === undefined) return [dflt];
    const vals = props[key].split(',').map((s) => parseNumber(key, s));
    if (vals.length !== 1 && vals.length !== channels) {
      fail(`model metadata ${key}: ${vals.length} values for ${channels} channel(s)`);
    }
    return vals;
  };
  const scale = props['preprocess.scale'] === undefined ? 1 : parseNumber('preprocess.scale', props['preprocess.scale']);
  const mean = list('preprocess.mean', 0), std = list('preprocess.std', 1);
  if (scale === 0) fail('model metadata preprocess.scale is 0');
  if (std.some((v) => v === 0)) fail('model metadata preprocess.std contains 0');
  const perChannel = (v) => Float32Array.from({ length: channels }, (_, c) => Math.fround(v.length === 1 ? v[0] : v[c]));
  return { scale: Math.fround(scale), mean: perChannel(mean), std: perChannel(std) };
}

// ---------------------------------------------------------------- IDX data

function readIdx(dir, base) {
  let file = path.join(dir, base + '.gz');
  let raw;
  try {
    if (fs.existsSync(file)) {
      raw = zlib.gunzipSync(fs.readFileSync(file));
    } else {
      file = path.join(dir, base);
      if (!fs.existsSync(file)) fail(`data: neither ${base}.gz nor ${base} found in ${dir}`);
      raw = fs.readFileSync(file);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    fail(`data: cannot read ${file}: ${e.message}`);
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) fail(`data: ${file}: not an IDX file`);
  if (raw[2] !== 0x08) fail(`data: ${file}: IDX element type 0x${raw[2].toString(16)} (only unsigned byte is supported)`);
  const ndim = raw[3];
  const hdr = 4 + 4 * ndim;
  if (ndim < 1 || raw.length < hdr) fail(`data: ${file}: truncated IDX header`);
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(raw.readUInt32BE(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (raw.length !== hdr + count) {
    fail(`data: ${file}: ${raw.length - hdr} data bytes for shape [${dims}] (expected ${count})`);
  }
  return { dims, data: raw.subarray(hdr), file };
}

function loadTestSplit(dir) {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) fail(`data: no such directory: ${dir}`);
  const img = readIdx(dir, 't10k-images-idx3-ubyte');
  const lab = readIdx(dir, 't10k-labels-idx1-ubyte');
  if (img.dims.length !== 3) fail(`data: ${img.file}: expected 3 dimensions (N,H,W), got [${img.dims}]`);
  if (lab.dims.length !== 1) fail(`data: ${lab.file}: expected 1 dimension (N), got [${lab.dims}]`);
  if (img.dims[0] !== lab.dims[0]) fail(`data: ${img.dims[0]} images but ${lab.dims[0]} labels`);
  if (img.dims[0] === 0) fail('data: the test split is empty');
  return { n: img.dims[0], c: 1, h: img.dims[1], w: img.dims[2], pixels: img.data, labels: lab.data };
}

// x = fround(u8 / scale); x = fround(fround(x - mean[c]) / std[c])  (float32 throughout)
function preprocess(ds, n, pp) {
  const hw = ds.h * ds.w, chw = ds.c * hw;
  const out = new Float32Array(n * chw);
  const lut = new Float32Array(ds.c * 256);   // u8 -> value is exact per channel: use a table
  for (let c = 0; c < ds.c; c++) {
    for (let u = 0; u < 256; u++) {
      let x = Math.fround(u / pp.scale);
      x = Math.fround(Math.fround(x - pp.mean[c]) / pp.std[c]);
      lut[c * 256 + u] = x;
    }
  }
  for (let i = 0; i < n * chw; i++) {
    const c = Math.floor((i % chw) / hw);
    out[i] = lut[c * 256 + ds.pixels[i]];
  }
  return out;
}

// ---------------------------------------------------------------- measurement

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function checkInputShape(shape, ds) {
  const want = [ds.c, ds.h, ds.w];
  const chw = ds.c * ds.h * ds.w;
  const fixed = (d) => typeof d === 'number' && d > 0;
  if (shape.length === 4) {
    for (let i = 0; i < 3; i++) {
      if (fixed(shape[i + 1]) && shape[i + 1] !== want[i]) {
        fail(`model input shape [${shape}] does not match the data (N,${want.join(',')})`);
      }
    }
    return { dims: (b) => [b, ds.c, ds.h, ds.w] };
  }
  if (shape.length === 2) {
    if (fixed(shape[1]) && shape[1] !== chw) fail(`model input shape [${shape}] does not match the data (N,${chw})`);
    return { dims: (b) => [b, chw] };
  }
  if (shape.length === 0) return { dims: (b) => [b, ds.c, ds.h, ds.w] };   // shape unknown: assume NCHW
  fail(`model input has rank ${shape.length} (shape [${shape}]); expected N,C,H,W or N,C*H*W`);
}

function median(sorted) {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

function csvField(s) {
  s = String(s);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// Batch-1 runs for S seconds after a warm-up; median, min and max in ms.
async function timeRuns(run, tensors, seconds) {
  const w0 = nowMs();
  for (let i = 0; i < 10 && nowMs() - w0 < 200; i++) await run(tensors[i % tensors.length]);
  const times = [];
  const budget = seconds * 1000, l0 = nowMs();
  do {
    const t0 = nowMs();
    await run(tensors[times.length % tensors.length]);
    times.push(nowMs() - t0);
  } while (nowMs() - l0 < budget || times.length < 3);
  times.sort((a, b) => a - b);
  note(`latency: ${times.length} runs in ${((nowMs() - l0) / 1000).toFixed(2)} s`);
  return { median: median(times), min: times[0], max: times[times.length - 1], runs: times.length };
}

async function latencyOnly(opt) {
  const { ort, version } = loadOrt();
  let session;
  try {
    session = await ort.InferenceSession.create(opt.model, {
      executionProviders: ['cpu'], intraOpNumThreads: opt.threads, interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    fail(`onnxruntime cannot load ${opt.model}: ${e.message}`);
  }
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  const meta = (session.inputMetadata || [])[0] || {};
  const dims = (meta.shape || []).map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : NaN));
  if (!dims.length || dims.some(Number.isNaN)) fail(`model input '${inputName}' has no fixed shape besides the batch`);
  const tensor = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  const run = async (t) => (await session.run({ [inputName]: t }))[outputName];
  const lat = await timeRuns(run, [tensor], opt.latencySeconds > 0 ? opt.latencySeconds : 2);
  const row = [`onnxruntime-${version}`, csvField(opt.model), opt.threads, dims[0], '', '', '', '', '',
    lat.median.toFixed(4), lat.min.toFixed(4), lat.max.toFixed(4)];
  process.stdout.write(CSV_HEADER + '\n' + row.join(',') + '\n');
  if (session.release) await session.release();
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));

  if (!fs.existsSync(opt.model)) fail(`model not found: ${opt.model}`);
  let modelBytes;
  try { modelBytes = fs.readFileSync(opt.model); } catch (e) { fail(`cannot read model ${opt.model}: ${e.message}`); }
  let props;
  try { props = readModelMetadata(modelBytes); } catch (e) { fail(`${opt.model}: not a valid ONNX model (${e.message})`); }
  modelBytes = null;

  if (opt.latencyOnly) return latencyOnly(opt);
  const ds = loadTestSplit(opt.data);
  const total = opt.limit > 0 ? Math.min(opt.limit, ds.n) : ds.n;
  if (opt.dumpN > total) fail(`--dump-logits ${opt.dumpN}: only ${total} images are evaluated`);

  const { ort, version } = loadOrt();
  let session;
  try {
    session = await ort.InferenceSession.create(opt.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opt.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    fail(`onnxruntime cannot load ${opt.model}: ${e.message}`);
  }
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  const inMeta = (session.inputMetadata || [])[0] || {};
  if (inMeta.isTensor === false) fail(`model input '${inputName}' is not a tensor`);
  if (inMeta.type !== undefined && inMeta.type !== 'float32') fail(`model input '${inputName}' is ${inMeta.type}, not float32`);
  const inShape = inMeta.shape || [];
  const layout = checkInputShape(inShape, ds);

  // A batch dimension fixed in the model overrides --batch (the last batch is zero-padded).
  let batch = opt.batch;
  const fixedBatch = typeof inShape[0] === 'number' && inShape[0] > 0 ? inShape[0] : 0;
  if (fixedBatch && fixedBatch !== batch) {
    note(fixedBatch === 1
      ? 'model batch dimension is fixed at 1: throughput measured with batch-1 runs'
      : `model batch dimension is fixed at ${fixedBatch}: throughput measured with batch ${fixedBatch}`);
    batch = fixedBatch;
  }

  const pp = preprocessFromMetadata(props, ds.c);
  const x = preprocess(ds, total, pp);
  const chw = ds.c * ds.h * ds.w;

  // Tensors are built before timing; only session.run() calls are timed.
  const feeds = [];
  for (let s = 0; s < total; s += batch) {
    const n = Math.min(batch, total - s);
    let arr = x.subarray(s * chw, (s + n) * chw);
    if (fixedBatch && n < fixedBatch) { const p = new Float32Array(fixedBatch * chw); p.set(arr); arr = p; }
    feeds.push({ start: s, n, tensor: new ort.Tensor('float32', arr, layout.dims(arr.length / chw)) });
  }

  const run = async (tensor) => {
    const r = await session.run({ [inputName]: tensor });
    return r[outputName];
  };

  // ---- evaluation throughput and accuracy
  // Untimed warm-up: onnxruntime's first two runs of a new input shape are several times
  // slower (allocation planning, arena growth). 3 runs of the first batch (stopping early
  // after 2 s), plus one of the last batch when its shape differs.
  const w0 = nowMs();
  for (let i = 0; i < 3 && (i === 0 || nowMs() - w0 < 2000); i++) await run(feeds[0].tensor);
  const lastT = feeds[feeds.length - 1].tensor;
  if (lastT.dims[0] !== feeds[0].tensor.dims[0]) await run(lastT);

  let correct = 0, runMs = 0, cpuUs = 0;
  let dumpK = 0, dumpData = null;   // --dump-logits: float32 LE rows of the first dumpN images
  for (const f of feeds) {
    const t0 = nowMs(), c0 = process.cpuUsage();
    const out = await run(f.tensor);
    runMs += nowMs() - t0;
    const c1 = process.cpuUsage(c0);
    cpuUs += c1.user + c1.system;
    const rows = out.dims[0] === undefined ? 1 : out.dims[0];
    const k = out.data.length / rows;
    if (!Number.isInteger(k) || k < 1 || rows !== f.tensor.dims[0]) {
      fail(`unexpected output '${outputName}' shape [${out.dims}] for batch ${f.tensor.dims[0]}`);
    }
    const logits = out.data;
    for (let i = 0; i < f.n; i++) {
      let best = 0, bv = logits[i * k];
      for (let j = 1; j < k; j++) if (logits[i * k + j] > bv) { bv = logits[i * k + j]; best = j; }
      if (best === ds.labels[f.start + i]) correct++;
    }
    if (opt.dumpN > 0 && f.start < opt.dumpN) {
      if (!dumpData) { dumpK = k; dumpData = Buffer.alloc(opt.dumpN * k * 4); }
      const m = Math.min(f.n, opt.dumpN - f.start);
      for (let i = 0; i < m * k; i++) dumpData.writeFloatLE(logits[i], (f.start * k + i) * 4);
    }
    if (out.dispose) out.dispose();
  }
  if (opt.dumpN > 0) {
    try { fs.writeFileSync(opt.dumpPath, dumpData); } catch (e) { fail(`cannot write ${opt.dumpPath}: ${e.message}`); }
    note(`wrote logits of ${opt.dumpN} images x ${dumpK} classes (float32 LE) to ${opt.dumpPath}`);
  }
  const imagesPerS = total / (runMs / 1000);

  // ---- batch-1 latency
  let lat = null;
  if (opt.latencySeconds > 0) {
    const lb = fixedBatch > 1 ? fixedBatch : 1;
    if (lb > 1) note(`model batch dimension is fixed at ${fixedBatch}: latency measured at batch ${lb}`);
    const singles = [];
    const nSingles = Math.max(1, Math.min(32, Math.floor(total / lb)));
    for (let i = 0; i < nSingles; i++) {
      let arr = x.subarray(i * lb * chw, (i + 1) * lb * chw);
      if (arr.length < lb * chw) { const p = new Float32Array(lb * chw); p.set(arr); arr = p; }
      singles.push(new ort.Tensor('float32', arr, layout.dims(lb)));
    }
    // warm-up: 10 runs or 0.2 s, whichever comes first
    const w0 = nowMs();
    for (let i = 0; i < 10 && nowMs() - w0 < 200; i++) await run(singles[i % singles.length]);
    const times = [];
    const budget = opt.latencySeconds * 1000, l0 = nowMs();
    do {
      const t0 = nowMs();
      await run(singles[times.length % singles.length]);
      times.push(nowMs() - t0);
    } while (nowMs() - l0 < budget);
    times.sort((a, b) => a - b);
    lat = { median: median(times), min: times[0], max: times[times.length - 1], runs: times.length };
    note(`latency: ${lat.runs} runs in ${((nowMs() - l0) / 1000).toFixed(2)} s`);
  }

  const fmt = (v, d) => (v === null || v === undefined ? '' : v.toFixed(d));
  const row = [
    `onnxruntime-${version}`, csvField(opt.model), opt.threads, batch, total, correct,
    (correct / total).toFixed(4), fmt(imagesPerS, 1), fmt(total / (cpuUs / 1e6), 1),
    fmt(lat && lat.median, 4), fmt(lat && lat.min, 4), fmt(lat && lat.max, 4),
  ];
  process.stdout.write(CSV_HEADER + '\n' + row.join(',') + '\n');
  if (session.release) await session.release();
}

main().catch((e) => {
  process.stderr.write(`ort_run: ${e instanceof UserError ? e.message : (e && e.stack) || e}\n`);
  process.exit(1);
});
