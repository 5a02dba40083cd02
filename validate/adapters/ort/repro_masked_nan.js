#!/usr/bin/env node
// Minimal reproduction (validate/README.md, "ONNX Runtime"): ONNX Attention (opset 23) on ONNX
// Runtime's CPU provider. One query, two keys; key 1 is masked out (attn_mask [true, false], or
// is_causal with the query at position 0) and its value is NaN. Nothing may flow from a masked key,
// so the output must be V[0] = 1; ONNX Runtime returns NaN.
'use strict';
const ort = require('onnxruntime-node');
const { onnx } = require('onnx-proto');

async function run(causal) {
  const vi = (name, t) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: t, shape: { dim: [1, 1, causal ? 2 : 1, 0].map((d, i) => ({ dimParam: `${name}${i}` })) } } } });
  const attribute = causal ? [onnx.AttributeProto.create({ name: 'is_causal', type: onnx.AttributeProto.AttributeType.INT, i: 1 })] : [];
  const input = causal ? ['Q', 'K', 'V'] : ['Q', 'K', 'V', 'M'];
  const graph = onnx.GraphProto.create({
    name: 'g',
    node: [onnx.NodeProto.create({ opType: 'Attention', input, output: ['Y'], attribute })],
    input: input.map(n => vi(n, n === 'M' ? onnx.TensorProto.DataType.BOOL : onnx.TensorProto.DataType.FLOAT)),
    output: [vi('Y', onnx.TensorProto.DataType.FLOAT)],
  });
  const model = onnx.ModelProto.create({ irVersion: 10, opsetImport: [{ domain: '', version: 23 }], graph });
  const s = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish());
  const nq = causal ? 2 : 1;
  const feeds = {
    Q: new ort.Tensor('float32', new Float32Array(nq).fill(1), [1, 1, nq, 1]),
    K: new ort.Tensor('float32', Float32Array.from([1, NaN]), [1, 1, 2, 1]),
    V: new ort.Tensor('float32', Float32Array.from([1, NaN]), [1, 1, 2, 1]),
  };
  if (!causal) feeds.M = new ort.Tensor('bool', Uint8Array.from([1, 0]), [1, 1, 1, 2]);
  const { Y } = await s.run(feeds);
  console.log(`${causal ? 'is_causal=1, query 0' : 'attn_mask [true, false]'}: output ${Y.data[0]} (expected 1)`);
}
(async () => {
  console.log(`onnxruntime-node ${ort.env.versions.node}`);
  await run(false);
  await run(true);
})();
