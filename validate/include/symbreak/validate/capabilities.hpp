// What a kernel supports. Most production kernels handle only part of the op (a causal mask only,
// the default scale only, d_v == d_head); the validator generates cases inside the declared region
// only, and says per property what it skipped and why. A kernel that fails, or refuses, a case inside
// its region fails the validation.
//
// The same words declare a region everywhere: in the exec protocol's handshake, on the command line
// (--supports) and in capabilities_from_words():
//   none, causal, explicit   the mask modes (listing any replaces the set)
//   square | cross           n_q == n_k only | n_q != n_k too
//   scale=default | scale=any
//   dv=dhead | dv=any
//   backward | no-backward   whether symbreak_attention_backward (or its exec equivalent) exists
//   masked-finite            masked K/V values may be assumed finite with scores that do not overflow:
//                            MASKED-INDEPENDENCE poisons them with ±1e30 only, not NaN or ±3e38
//                            (PyTorch 1.13 lets both through: pytorch#101967, and inf − inf = NaN)
//   deterministic            the same input gives the same bits, forward and backward (DETERMINISM and
//                            BWD-DETERMINISM then fail instead of warn); the C ABI declares it in version 2
//   max-batch=N, max-heads=N, max-n=N, max-d=N   size limits (0: none)
// Version 2 (attention_abi.h; C ABI version-1 plugins cannot declare them):
//   causal=top-left | causal=bottom-right   causal (and window) with n_q != kv_len in that alignment
//                            (implies the causal mask mode; the plain word `causal` stays square only)
//   gqa                      heads_kv < heads (query head h reads KV head h / (heads / heads_kv))
//   window                   sliding windows (left, right), inclusive, at the aligned query position
//   padding                  per-batch key lengths (keys past them are padding)
//   mask=per-head            an explicit mask per batch item and head
//   empty-rows=zero          rows with no visible key, written as zero output and zero gradients
//   empty-rows=nan           rows with no visible key, written as NaN (softmax's 0/0, as PyTorch's math path);
//                            forward only: backward cases then have no such rows
//   softcap                  logit soft-capping: scores s = scale·q·k become c·tanh(s/c) before the mask
//                            (Gemma 2; FlashAttention's softcap, ONNX Attention's softcap attribute)
//   bias                     an additive float bias per head [heads][n_q][n_k] after the softcap, with
//                            -inf entries (the key is hidden) and -FLT_MAX entries (it is not)
//   alibi                    ALiBi slopes per head: score(i, j) -= slope·|i + offset - j| (FlashAttention's
//                            alibi_slopes; never together with bias)
//   layout=bnhd | layout=bhnd   the tensors' layout ([batch][seq][heads][d] reads through strides)
//   dtype=f32 | dtype=f16 | dtype=bf16   the element type of q, k, v, out, dO and the gradients (one per
//                            validation; mask, lengths, bias and slopes stay as they are). The tolerance
//                            is then c × the error of symbreak's same-dtype reference + a few ulps of the dtype
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "symbreak/validate/op.hpp"

namespace symbreak::validate {

enum class MaskMode { none, causal, explicit_mask, causal_and_explicit };
std::string_view to_string(MaskMode mode);

struct Capabilities {
  bool mask_none = true, mask_causal = true, mask_explicit = true;
  bool cross = true;       // n_q != n_k
  bool any_scale = true;   // otherwise only 1/sqrt(d_head)
  bool dv_differs = true;  // d_v != d_head
  bool backward = false;
  bool deterministic = false;  // repeated runs give the same bits (held to it when declared)
  bool masked_finite = false;  // masked K/V are assumed finite (no NaN poisoning)
  int max_batch = 0, max_heads = 0, max_n = 0, max_d = 0;  // 0: no limit
  // Version 2.
  bool align_top_left = false, align_bottom_right = false;
  bool gqa = false, window = false, padding = false, mask_per_head = false, empty_rows = false, softcap = false;
  bool empty_rows_nan = false;  // with empty_rows: the contract is NaN rows, not zero rows
  bool bias = false, alibi = false;
  bool layout_bnhd = false;
  Dtype dtype = Dtype::f32;

  // SYMBREAK_FEATURE_* bits of the version-2 words (and deterministic, masked-finite).
  unsigned features() const;
  bool uses_v2() const;  // declares anything only version 2 can serve

  // The mask modes inside the region (an explicit mask with the causal flag needs both).
  std::vector<MaskMode> mask_modes() const;
  bool supports(MaskMode mode) const;
  // Is the op inside the region?
  bool allows(const AttentionOp& op) const;
  // "masks none, causal; n_q != n_k; any scale; d_v != d_head; forward and backward".
  std::string text() const;
  // The handshake words that declare this region.
  std::string words() const;
  std::string v2_words() const;  // "causal=bottom-right gqa window"

  // Applies declaration words (see above). Throws std::invalid_argument naming an unknown word or a
  // bad number; `source` prefixes the message ("--supports", "the exec handshake").
  void apply(const std::vector<std::string>& words, std::string_view source);
  static Capabilities from_abi(const symbreak_attention_caps& caps, bool backward);
  static Capabilities from_abi_v2(const symbreak_attention_caps_v2& caps, bool backward);
  static symbreak_attention_caps abi_defaults();  // everything supported
};

MaskMode mask_mode_of(const AttentionOp& op);

// The version-2 features an op uses, as declaration words ("gqa window"); empty for a version-1 op.
std::string v2_words_of(const AttentionOp& op);

// What an op uses beyond the region most kernels support (the default scale, d_v == d_head,
// n_q == n_k, no explicit mask), in words, and the declaration words that would leave it out:
// {"scale 0.37 (not 1/√d_head = 0.447), d_v 1 ≠ d_head 5", "scale=default dv=dhead"}.
struct RegionHint {
  std::string used, words;
};
RegionHint beyond_common_region(const AttentionOp& op);

// Splits "causal,none square" (commas or spaces) into words.
std::vector<std::string> split_words(std::string_view text);

}  // namespace symbreak::validate
