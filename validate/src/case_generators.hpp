// Cases for the op-level properties, always inside the kernel's declared region: RapidCheck generators
// (small, composable, shrinking toward one batch, one head, few keys) and the deterministic edge cases
// every seed runs first, in every mask mode the kernel supports.
#pragma once

#include <rapidcheck.h>

#include <vector>

#include "symbreak/validate/capabilities.hpp"
#include "symbreak/validate/properties.hpp"

namespace symbreak::validate {

// The mask modes a property's cases use: its own modes within the region (empty: not applicable).
std::vector<MaskMode> property_modes(const OpProperty& p, const Capabilities& caps);

rc::Gen<OpCase> case_gen(const OpProperty& p, const Capabilities& caps);

// The edge cases of a robust property, crossed with every mode of property_modes(p, caps), each
// within the region: n_k = 1, logits of order ±1e6, every score near −20000, tiny values, sizes that
// are not multiples of 4, 8, 16 or 64 with a large scale, long sequences, and (where any scale is
// supported) a tiny and a large scale. Backward properties get dO too.
std::vector<OpCase> edge_cases(const OpProperty& p, const Capabilities& caps);

// Version-2 properties (OpProperty::feature; v2_generators.cpp): cases that exercise the feature,
// combined with the other version-2 features the kernel declares, always inside its region.
bool declares_feature(const Capabilities& caps, std::string_view feature);
rc::Gen<OpCase> v2_case_gen(const OpProperty& p, const Capabilities& caps);
std::vector<OpCase> v2_edge_cases(const OpProperty& p, const Capabilities& caps);

// The kinds of cases a property does not run on this kernel, and why ("no-mask cases: not supported").
std::vector<std::string> skipped_kinds(const OpProperty& p, const Capabilities& caps);

}  // namespace symbreak::validate
