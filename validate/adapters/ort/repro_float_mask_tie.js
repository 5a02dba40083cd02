#!/usr/bin/env node
// Minimal reproduction (validate/README.md, "ONNX Runtime"): ONNX Attention (opset 23) on ONNX
// Runtime's CPU provider with a float attn_mask (added to the scores). One query, two keys, equal
// scores (Q = 0). The mask is [-FLT_MAX, -inf]: key 0 is visible with a very negative bias, key 1 is
// masked. The softmax is shift-invariant, so all weight belongs to key 0 and the output must be
// V[0] = 1. Measured with onnxruntime-node (this repository's package-lock): the output is 0, which
// is neither value (V = [1, 5]): the row is written as a row with no visible key, as if a score at
// the dtype's lowest value meant "masked".
'use strict';
const ort = require('onnxruntime-node');
const { onnx } = require('onnx-proto');

async function main() {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const vi = name => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [0, 1, 2, 3].map(i => ({ dimParam: `${name}${i}` })) } } } });
  const input = ['Q', 'K', 'V', 'M'];
  const graph = onnx.GraphProto.create({
    name: 'g',
    node: [onnx.NodeProto.create({ opType: 'Attention', input, output: ['Y'] })],
    input: input.map(vi),
    output: [vi('Y')],
  });
  const model = onnx.ModelProto.create({ irVersion: 10, opsetImport: [{ domain: '', version: 23 }], graph });
  const s = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish());
  const lowest = -3.4028234663852886e38;
  const feeds = {
    Q: new ort.Tensor('float32', Float32Array.from([0]), [1, 1, 1, 1]),
    K: new ort.Tensor('float32', Float32Array.from([1, 1]), [1, 1, 2, 1]),
    V: new ort.Tensor('float32', Float32Array.from([1, 5]), [1, 1, 2, 1]),
    M: new ort.Tensor('float32', Float32Array.from([lowest, -Infinity]), [1, 1, 1, 2]),
  };
  const { Y } = await s.run(feeds);
  console.log(`attn_mask [-FLT_MAX, -inf]: output ${Y.data[0]} (expected 1)`);
  const finite = { ...feeds, M: new ort.Tensor('float32', Float32Array.from([0, -Infinity]), [1, 1, 1, 2]) };
  console.log(`attn_mask [0, -inf]:        output ${(await s.run(finite)).Y.data[0]} (expected 1)`);
}
main().catch(e => { console.error(e); process.exit(1); });
