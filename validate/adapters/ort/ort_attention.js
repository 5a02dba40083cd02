#!/usr/bin/env node
// symbreak validate's exec adapter for ONNX Runtime: each case runs the standard ONNX `Attention`
// operator (opset 23) on ONNX Runtime's CPU execution provider (the npm package onnxruntime-node,
// whose CPU library ships inside the package), through a one-node model built in memory.
//
//   node validate/adapters/ort/ort_attention.js --causal top-left|bottom-right
//
// What the operator expresses, and therefore what the adapter declares (validate/README.md):
//   - Q [B, Hq, Sq, D], K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv]: grouped-query heads from the shapes (gqa);
//   - `scale`: any scale; d_v != d_head;
//   - `attn_mask`: a boolean mask [B, Hq, Sq, Skv] (True = may attend): explicit masks, per head;
//   - `is_causal`: the causal mask, top-left aligned when Sq != Skv (--causal top-left);
//   - `past_key`/`past_value`: with the first Skv - Sq keys passed as the past, is_causal aligns the
//     current queries bottom-right, as when decoding with a KV cache (--causal bottom-right);
//   - `softcap`: c·tanh(s/c) on the scores (softcap);
//   - key lengths (padding) are passed as attn_mask rows (the operator has no lengths input in opset
//     23), so PADDING checks that masked keys change nothing.
// Not expressible in opset 23: sliding windows (local_window_size is proposed for opset 25), a
// backward pass (ONNX Runtime's inference build has none). Rows with no visible key: see the README.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const ort = require('onnxruntime-node');
const { onnx } = require('onnx-proto');

function usage(message) {
  process.stderr.write(`ort_attention.js: ${message}\nusage: node ort_attention.js --causal top-left|bottom-right\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let alignment = null;
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--causal' && i + 1 < args.length) alignment = args[++i];
  else usage(`unknown argument "${args[i]}"`);
}
if (alignment !== 'top-left' && alignment !== 'bottom-right') usage('--causal must be top-left or bottom-right');

// ---- .npy (format 1.0, C order): float32 and uint8 in, float32 out --------------------------------

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not an .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const data = buf.subarray(start + headerLen);
  const count = shape.reduce((a, b) => a * b, 1);
  if (descr === '<f4') return { shape, data: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + 4 * count)) };
  if (descr === '|u1') return { shape, data: Uint8Array.from(data.subarray(0, count)) };
  throw new Error(`${file}: dtype ${descr} (expected <f4 or |u1)`);
}

function writeNpy(file, shape, floats) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

// ---- The one-node model ----------------------------------------------------------------------------

const FLOAT = onnx.TensorProto.DataType.FLOAT, BOOL = onnx.TensorProto.DataType.BOOL;
function valueInfo(name, elemType, rank) {
  const dim = Array.from({ length: rank }, (_, i) => ({ dimParam: `${name}_${i}` }));
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim } } } });
}

const sessions = new Map();
async function session(key, { causal, scale, softcap, mask, past }) {
  if (sessions.has(key)) return sessions.get(key);
  const attribute = [onnx.AttributeProto.create({ name: 'scale', type: onnx.AttributeProto.AttributeType.FLOAT, f: scale })];
  if (softcap > 0) attribute.push(onnx.AttributeProto.create({ name: 'softcap', type: onnx.AttributeProto.AttributeType.FLOAT, f: softcap }));
  if (causal) attribute.push(onnx.AttributeProto.create({ name: 'is_causal', type: onnx.AttributeProto.AttributeType.INT, i: 1 }));
  const input = ['Q', 'K', 'V', mask ? 'M' : '', past ? 'PK' : '', past ? 'PV' : ''];
  while (input.length && input[input.length - 1] === '') input.pop();
  // With a past, ONNX Runtime's CPU kernel requires the present key and value outputs too.
  const output = past ? ['Y', 'PRK', 'PRV'] : ['Y'];
  const node = onnx.NodeProto.create({ opType: 'Attention', input, output, attribute });
  const graph = onnx.GraphProto.create({
    name: 'attention',
    node: [node],
    input: input.filter(n => n).map(n => valueInfo(n, n === 'M' ? BOOL : FLOAT, 4)),
    output: output.map(n => valueInfo(n, FLOAT, 4)),
  });
  const model = onnx.ModelProto.create({ irVersion: 10, opsetImport: [{ domain: '', version: 23 }], graph });
  const s = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 1 });
  sessions.set(key, s);
  return s;
}

// Rows [from, to) of the key axis of a [B, H, S, D] tensor.
function keyRows(x, [B, H, S, D], from, to) {
  const out = new Float32Array(B * H * (to - from) * D);
  let at = 0;
  for (let b = 0; b < B; ++b)
    for (let h = 0; h < H; ++h) {
      const row = ((b * H + h) * S + from) * D;
      out.set(x.subarray(row, row + (to - from) * D), at);
      at += (to - from) * D;
    }
  return out;
}

async function serve(dir) {
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
  if (c.pass !== 'forward') return 'error: ONNX Runtime has no backward pass';
  if (c.window) return 'error: opset 23 Attention has no sliding window';
  const q = readNpy(path.join(dir, 'q.npy')), k = readNpy(path.join(dir, 'k.npy')), v = readNpy(path.join(dir, 'v.npy'));
  const [B, Hq, Sq, D] = q.shape, [, Hkv, Skv] = k.shape, Dv = v.shape[3];
  const lens = c.kv_lens || null;
  const maskFile = path.join(dir, 'mask.npy');
  const explicit = fs.existsSync(maskFile) ? readNpy(maskFile) : null;
  // The boolean attn_mask: the explicit mask (shared or per head) and the key lengths.
  let mask = null;
  if (explicit || lens) {
    mask = new Uint8Array(B * Hq * Sq * Skv);
    const perHead = explicit && explicit.shape.length === 4;
    for (let b = 0; b < B; ++b)
      for (let h = 0; h < Hq; ++h)
        for (let i = 0; i < Sq; ++i)
          for (let j = 0; j < Skv; ++j) {
            let on = !lens || j < lens[b];
            if (explicit) on = on && explicit.data[perHead ? ((b * Hq + h) * Sq + i) * Skv + j : i * Skv + j] !== 0;
            mask[((b * Hq + h) * Sq + i) * Skv + j] = on ? 1 : 0;
          }
  }
  // Bottom-right: the keys before the last Sq are the past.
  const past = c.causal && alignment === 'bottom-right' && Skv > Sq ? Skv - Sq : 0;
  if (c.causal && alignment === 'bottom-right' && Skv < Sq) return 'error: bottom-right with n_q > n_k needs rows with no key';
  const softcap = c.softcap || 0;
  const s = await session(`${c.causal}|${c.scale}|${softcap}|${!!mask}|${past > 0}`,
                          { causal: c.causal, scale: c.scale, softcap, mask: !!mask, past: past > 0 });
  const feeds = {};
  if (past) {
    feeds.K = new ort.Tensor('float32', keyRows(k.data, k.shape, past, Skv), [B, Hkv, Skv - past, D]);
    feeds.V = new ort.Tensor('float32', keyRows(v.data, v.shape, past, Skv), [B, Hkv, Skv - past, Dv]);
    feeds.PK = new ort.Tensor('float32', keyRows(k.data, k.shape, 0, past), [B, Hkv, past, D]);
    feeds.PV = new ort.Tensor('float32', keyRows(v.data, v.shape, 0, past), [B, Hkv, past, Dv]);
  } else {
    feeds.K = new ort.Tensor('float32', k.data, k.shape);
    feeds.V = new ort.Tensor('float32', v.data, v.shape);
  }
  feeds.Q = new ort.Tensor('float32', q.data, q.shape);
  if (mask) feeds.M = new ort.Tensor('bool', mask, [B, Hq, Sq, Skv]);
  const { Y } = await s.run(feeds, ['Y']);
  if (Y.dims.join() !== [B, Hq, Sq, Dv].join()) return `error: ONNX Runtime returned shape [${Y.dims}]`;
  writeNpy(path.join(dir, 'out.npy'), [B, Hq, Sq, Dv], Y.data);
  return 'ok';
}

async function main() {
  const causalWord = alignment === 'top-left' ? 'causal=top-left' : 'causal=bottom-right';
  // masked-finite: a NaN in a masked key's K or V reaches the output (validate/README.md, "ONNX
  // Runtime"); the finite poisons pass. Padding would shift the bottom-right offset per batch item,
  // and rows above the keys would need a mask instead of is_causal, which past_key cannot express.
  const words = ['none', 'explicit', causalWord, 'gqa', 'mask=per-head', 'scale=any', 'dv=any', 'no-backward', 'masked-finite', 'softcap'];
  if (alignment === 'top-left') words.push('padding', 'empty-rows=zero');
  process.stdout.write(`symbreak-exec 1 ${words.join(' ')}\n`);
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    const dir = line.trim();
    if (!dir) continue;
    let answer;
    try {
      answer = await serve(dir);
    } catch (e) {
      answer = `error: ${String(e.message || e).split('\n')[0]}`;
    }
    process.stdout.write(answer + '\n');
  }
}

main();
