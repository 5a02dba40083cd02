// A training run's configuration (experiments/configs/*.json), read strictly: unknown keys, wrong
// types and bad values are errors naming the field.
//
//   {
//     "model":     { "d_model": 128, "heads": 4, "layers": 6, "positional_encoding": "learned", "mask": "causal", ... },
//     "task":      { "name": "addition3", "bos": false, "delimiter": false, "test_size": 2000, "test_seed": 1 },
//     "train":     { "steps": 3000, "batch": 64, "eval_every": 250, "checkpoint_every": 500, "threads": 2,
//                    "grad_clip": 1.0 },
//     "optimizer": { "name": "adamw", "lr": 1e-3, "betas": [0.9, 0.98], "eps": 1e-8, "weight_decay": 0 },
//     "schedule":  { "name": "constant", "warmup_steps": 100, "min_lr_ratio": 0 },
//     "symmetry_breaking_bias": { "enabled": false, ... }
//   }
//
// The model's vocabulary and context length come from the task.
#pragma once

#include <cstdint>
#include <string>

#include "symbreak/config.hpp"
#include "symbreak/experiments/task.hpp"

namespace symbreak::experiments {

struct OptimizerConfig {
  std::string name = "adamw";  // adamw | sgd | ecd | soap
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-8;  // adamw, soap (soap's defaults: betas 0.95, 0.95)
  int precondition_frequency = 10;               // soap: steps between refreshes of the eigenbases
  double shampoo_beta = -1;                      // soap: the factors' decay; < 0: beta2, as the reference
  double weight_decay = 0;                       // adamw, soap (decoupled), sgd, ecd (L2)
  double momentum = 0.9;                         // sgd
  bool nesterov = false;                         // sgd
  double eta = 100, F0 = -1, nu = 0;             // ecd (arXiv 2601.22257)
};

struct ScheduleConfig {
  std::string name = "constant";  // constant | cosine | wsd (warmup, stable, linear decay)
  int warmup_steps = 0;           // linear warmup from lr/warmup to lr
  double min_lr_ratio = 0;        // cosine, wsd: the final lr as a fraction of lr
  double decay_fraction = 0.2;    // wsd: the share of the steps over which lr decays
};

// Unlearned query/value (and optionally key) biases redrawn at every training forward pass, shared by
// a layer's heads; fixed at their means for evaluation (Silverstein et al. 2026, arXiv 2601.22257).
struct BiasConfig {
  bool enabled = false;
  bool query = true, value = true;  // which of the biases are applied (b_Q alone: value = false)
  double query_mean = 0.5, query_std_first = 0.05, query_std_last = 0.15;  // std rises across the head dimension
  double value_mean = 0.5, value_std = 0.05;
  bool key = false;
  double key_mean = 0.5, key_std = 0.05;
};

struct TrainConfig {
  ModelConfig model;
  TaskFormat format;
  int test_size = 2000;
  std::uint64_t test_seed = 1;
  int steps = 3000, batch = 64, eval_every = 250, checkpoint_every = 500, threads = 2;
  double grad_clip = 1.0;  // 0: no clipping
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  BiasConfig bias;
  std::string json;  // the normalised config, recorded in checkpoints and outputs
};

TrainConfig parse_train_config(const std::string& text, const std::string& source);
TrainConfig load_train_config(const std::string& path);  // throws ConfigError

// The learning rate at a step (0-based) under the schedule.
double learning_rate(const TrainConfig& c, int step);

}  // namespace symbreak::experiments
