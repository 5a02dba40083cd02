#include "symbreak/experiments/train_config.hpp"

#include <cmath>

#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"

namespace symbreak::experiments {

using nlohmann::json;

TrainConfig parse_train_config(const std::string& text, const std::string& source) {
  const json root = parse_json_text(text, source);
  StrictObject o(root, source, "");
  TrainConfig c;

  StrictObject task = o.object("task");
  const std::string name = task.string("name", "addition3");
  if (name != "addition3") task.fail("name", "is not a known task (allowed: addition3)");
  c.format.bos = task.boolean("bos", false);
  c.format.delimiter = task.boolean("delimiter", false);
  c.test_size = static_cast<int>(task.integer("test_size", 2000, 1, 1000000));
  c.test_seed = static_cast<std::uint64_t>(task.integer("test_seed", 1, 0, INT64_MAX));
  task.finish();

  const json* model = o.get("model");
  if (!model) o.fail("model", "is required");
  if (model->is_object())
    for (const char* derived : {"vocab_size", "context_length"})
      if (model->contains(derived))
        o.fail("model", std::string("sets \"") + derived + "\", which the task determines (remove it)");
  json with_task = *model;
  const AdditionTask t(c.format);
  if (with_task.is_object()) {
    with_task["vocab_size"] = AdditionTask::kVocab;
    with_task["context_length"] = t.sequence_length();
  }
  c.model = parse_config_object(with_task, source, "model");

  StrictObject train = o.object("train");
  c.steps = static_cast<int>(train.integer("steps", c.steps, 1, 100000000));
  c.batch = static_cast<int>(train.integer("batch", c.batch, 1, 65536));
  c.eval_every = static_cast<int>(train.integer("eval_every", c.eval_every, 1, 100000000));
  c.checkpoint_every = static_cast<int>(train.integer("checkpoint_every", c.checkpoint_every, 1, 100000000));
  c.threads = static_cast<int>(train.integer("threads", c.threads, 1, 256));
  c.grad_clip = train.number("grad_clip", c.grad_clip, 0, 1e9);
  train.finish();

  StrictObject opt = o.object("optimizer");
  OptimizerConfig& oc = c.optimizer;
  oc.name = std::vector<std::string>{"adamw", "sgd", "ecd", "soap"}[opt.choice("name", 0, {"adamw", "sgd", "ecd", "soap"})];
  oc.lr = opt.number("lr", oc.name == "ecd" ? 1.0 : oc.name == "sgd" ? 0.1 : oc.name == "soap" ? 3e-3 : 1e-3, 1e-12, 1e6);
  if (oc.name == "soap") oc.beta1 = oc.beta2 = 0.95;  // the reference's defaults
  if (const json* betas = opt.get("betas")) {
    if (oc.name != "adamw" && oc.name != "soap") opt.fail("betas", "applies only to adamw and soap");
    if (!betas->is_array() || betas->size() != 2 || !(*betas)[0].is_number() || !(*betas)[1].is_number())
      opt.fail("betas", "must be two numbers [beta1, beta2]");
    oc.beta1 = (*betas)[0].get<double>();
    oc.beta2 = (*betas)[1].get<double>();
    if (!(oc.beta1 >= 0 && oc.beta1 < 1 && oc.beta2 >= 0 && oc.beta2 < 1)) opt.fail("betas", "must lie in [0, 1)");
  }
  oc.eps = opt.number("eps", oc.eps, 0, 1);
  oc.weight_decay = opt.number("weight_decay", 0, 0, 10);
  oc.momentum = opt.number("momentum", oc.momentum, 0, 0.9999999);
  oc.nesterov = opt.boolean("nesterov", false);
  oc.eta = opt.number("eta", oc.eta, 1, 1e9);
  oc.F0 = opt.number("F0", oc.F0, -1e9, 1e9);
  oc.nu = opt.number("nu", oc.nu, 0, 1e3);
  oc.precondition_frequency = static_cast<int>(opt.integer("precondition_frequency", oc.precondition_frequency, 1, 1000000));
  oc.shampoo_beta = opt.number("shampoo_beta", oc.shampoo_beta, -1, 0.9999999);
  const auto only = [&](const char* key, const char* optimizer) {
    if (opt.has(key) && oc.name != optimizer) opt.fail(key, std::string("applies only to ") + optimizer);
  };
  only("momentum", "sgd");
  only("nesterov", "sgd");
  only("eta", "ecd");
  only("F0", "ecd");
  only("nu", "ecd");
  if (opt.has("eps") && oc.name != "adamw" && oc.name != "soap") opt.fail("eps", "applies only to adamw and soap");
  only("precondition_frequency", "soap");
  only("shampoo_beta", "soap");
  opt.finish();

  StrictObject sched = o.object("schedule");
  c.schedule.name = std::vector<std::string>{"constant", "cosine", "wsd"}[sched.choice("name", 0, {"constant", "cosine", "wsd"})];
  c.schedule.warmup_steps = static_cast<int>(sched.integer("warmup_steps", 0, 0, 100000000));
  c.schedule.min_lr_ratio = sched.number("min_lr_ratio", 0, 0, 1);
  c.schedule.decay_fraction = sched.number("decay_fraction", c.schedule.decay_fraction, 0, 1);
  if (sched.has("decay_fraction") && c.schedule.name != "wsd") sched.fail("decay_fraction", "applies only to \"wsd\"");
  if (sched.has("min_lr_ratio") && c.schedule.name == "constant")
    sched.fail("min_lr_ratio", "applies only to \"cosine\" and \"wsd\"");
  sched.finish();

  StrictObject bias = o.object("symmetry_breaking_bias");
  BiasConfig& b = c.bias;
  b.enabled = bias.boolean("enabled", false);
  b.query = bias.boolean("query", true);
  b.value = bias.boolean("value", true);
  b.query_mean = bias.number("query_mean", b.query_mean, -1e3, 1e3);
  b.query_std_first = bias.number("query_std_first", b.query_std_first, 0, 1e3);
  b.query_std_last = bias.number("query_std_last", b.query_std_last, 0, 1e3);
  b.value_mean = bias.number("value_mean", b.value_mean, -1e3, 1e3);
  b.value_std = bias.number("value_std", b.value_std, 0, 1e3);
  b.key = bias.boolean("key", false);
  b.key_mean = bias.number("key_mean", b.key_mean, -1e3, 1e3);
  b.key_std = bias.number("key_std", b.key_std, 0, 1e3);
  if (b.enabled && !b.query && !b.value && !b.key)
    bias.fail("enabled", "is true but \"query\", \"value\" and \"key\" are all false (allowed: at least one bias on)");
  bias.finish();
  o.finish();

  json normal = root;
  normal["model"] = json::parse(config_to_json(c.model));
  c.json = normal.dump(2);
  return c;
}

TrainConfig load_train_config(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& e) {
    throw ConfigError(std::string(e.what()));
  }
  return parse_train_config(text, path);
}

double learning_rate(const TrainConfig& c, int step) {
  const double base = c.optimizer.lr;
  const int warm = c.schedule.warmup_steps;
  if (step < warm) return base * (step + 1) / warm;
  if (c.schedule.name == "constant") return base;
  const double lo = c.schedule.min_lr_ratio;
  if (c.schedule.name == "wsd") {
    // Warmup, stable, decay: constant, then linear to lo·lr over the last decay_fraction of the steps.
    const double decay_start = c.steps * (1 - c.schedule.decay_fraction);
    if (step < decay_start) return base;
    const double t = std::min(1.0, (step - decay_start) / std::max(1.0, c.steps - decay_start));
    return base * (1 - (1 - lo) * t);
  }
  const double progress = c.steps > warm ? static_cast<double>(step - warm) / (c.steps - warm) : 1.0;
  return base * (lo + (1 - lo) * 0.5 * (1 + std::cos(3.14159265358979323846 * std::min(1.0, progress))));
}

}  // namespace symbreak::experiments
