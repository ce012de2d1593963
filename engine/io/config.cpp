#include "engine/io/config.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "engine/error.h"

namespace xmkd::io {

using nlohmann::json;

struct Config::State {
  std::string source;
  json document;
  json resolved = json::object();
  std::set<std::string> used;   // dotted paths of every key asked for (objects included)
  // --set overrides as (dotted key, "key=value"): errors about their keys name the option, not the file.
  std::vector<std::pair<std::string, std::string>> overrides;
  // Where `key` was given: the --set option that set it (or an object above it), else the file.
  std::string origin(const std::string& key) const {
    for (auto it = overrides.rbegin(); it != overrides.rend(); ++it)
      if (key == it->first || key.rfind(it->first + ".", 0) == 0) return str_cat("--set '", it->second, "'");
    return source;
  }
};

namespace {

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::vector<std::string> split_dotted(const std::string& dotted) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    size_t dot = dotted.find('.', begin);
    parts.push_back(dotted.substr(begin, dot - begin));
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  return parts;
}

// json::type_name() speaks of "number"; say which number a reader expects.
std::string describe_value(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return str_cat(value.type_name(), " ", text);
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

void collect_unused(const json& node, const std::string& path, const std::set<std::string>& used,
                    std::vector<std::string>& unused) {
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = join(path, it.key());
    if (!used.count(key)) {
      unused.push_back(key);
    } else {
      collect_unused(it.value(), key, used, unused);
    }
  }
}

void apply_override(json& document, const std::string& assignment) {
  size_t eq = assignment.find('=');
  XMKD_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key=value, e.g. train.epochs=5");
  std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;
  json* node = &document;
  std::vector<std::string> parts = split_dotted(key);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    json& next = (*node)[parts[i]];
    if (next.is_null()) next = json::object();
    XMKD_CHECK(next.is_object(), "--set '", assignment, "': '", parts[i], "' is a ", next.type_name(),
               ", not an object");
    node = &next;
  }
  (*node)[parts.back()] = value;
}

}  // namespace

json read_json_file(const std::string& path, const std::string& hint) {
  std::ifstream in(path);
  XMKD_CHECK(in, path, ": cannot open", hint);
  try {
    return json::parse(in, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // nlohmann's message says "parse error at line L, column C: <what>"; keep from "line" on.
    const std::string what = e.what();
    const size_t at = what.find("line ");
    fail(path, ": not valid JSON: ", at == std::string::npos ? what : what.substr(at));
  }
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  json document = read_json_file(path, " the config file");
  XMKD_CHECK(document.is_object(), path, ": the config must be a JSON object, got ", document.type_name());
  std::vector<std::pair<std::string, std::string>> applied;
  for (const std::string& assignment : overrides) {
    apply_override(document, assignment);
    applied.emplace_back(assignment.substr(0, assignment.find('=')), assignment);
  }
  Config config = from_json(std::move(document), path);
  config.state_->overrides = std::move(applied);
  return config;
}

Config Config::from_json(json document, std::string source) {
  XMKD_CHECK(document.is_object(), source, ": the config must be a JSON object, got ", document.type_name());
  auto state = std::make_shared<State>();
  state->source = std::move(source);
  state->document = std::move(document);
  return Config(std::move(state));
}

ConfigNode Config::root() { return ConfigNode(state_, ""); }
const json& Config::resolved() const { return state_->resolved; }
const std::string& Config::source() const { return state_->source; }

void Config::check_all_used() const {
  std::vector<std::string> unused;
  collect_unused(state_->document, "", state_->used, unused);
  if (unused.empty()) return;
  std::string message;
  for (size_t i = 0; i < unused.size(); ++i) {
    const std::string& key = unused[i];
    const std::string origin = state_->origin(key);
    if (i == 0 || origin != state_->origin(unused[i - 1])) message += str_cat(i ? "; " : "", origin, ": ");
    else message += "; ";
    // Suggest the nearest key that was read at the same level.
    std::string parent = key.substr(0, key.rfind('.') == std::string::npos ? 0 : key.rfind('.'));
    std::string best;
    size_t best_distance = 3;
    for (const std::string& known : state_->used) {
      std::string known_parent = known.substr(0, known.rfind('.') == std::string::npos ? 0 : known.rfind('.'));
      if (known_parent != parent) continue;
      size_t d = edit_distance(key, known);
      if (d < best_distance) best_distance = d, best = known;
    }
    message += str_cat("unknown key '", key, "'", best.empty() ? "" : str_cat(" (did you mean '", best, "'?)"));
  }
  throw Error(message);
}

std::string ConfigNode::key_path(const std::string& key) const { return join(path_, key); }

void ConfigNode::fail(const std::string& key, const std::string& message) const {
  throw Error(str_cat(state_->origin(key_path(key)), ": key '", key_path(key), "': ", message));
}

const json* ConfigNode::lookup(const std::string& key) const {
  // Every key asked for counts as known, present or not: a misspelt key is then told the
  // name it should have had even when that key is absent (it took its default).
  state_->used.insert(key_path(key));
  const json* node = &state_->document;
  if (!path_.empty()) {
    for (const std::string& part : split_dotted(path_)) {
      if (!node->is_object() || !node->contains(part)) return nullptr;
      node = &(*node)[part];
    }
  }
  if (!node->is_object() || !node->contains(key)) return nullptr;
  return &(*node)[key];
}

void ConfigNode::record(const std::string& key, const json& value) const {
  json* node = &state_->resolved;
  if (!path_.empty()) {
    for (const std::string& part : split_dotted(path_)) {
      json& next = (*node)[part];
      if (!next.is_object()) next = json::object();
      node = &next;
    }
  }
  (*node)[key] = value;
}

bool ConfigNode::has(const std::string& key) const {
  const json* node = &state_->document;
  if (!path_.empty()) {
    for (const std::string& part : split_dotted(path_)) {
      if (!node->is_object() || !node->contains(part)) return false;
      node = &(*node)[part];
    }
  }
  return node->is_object() && node->contains(key);
}

int64_t ConfigNode::get_int(const std::string& key, int64_t fallback) const {
  const json* value = lookup(key);
  int64_t result = fallback;
  if (value) {
    if (value->is_number_integer()) {
      result = value->get<int64_t>();
    } else if (value->is_number_float() && value->get<double>() == static_cast<double>(static_cast<int64_t>(value->get<double>()))) {
      result = static_cast<int64_t>(value->get<double>());   // 5.0 is an integer
    } else {
      fail(key, str_cat("expected an integer, got ", describe_value(*value)));
    }
  }
  record(key, result);
  return result;
}

int64_t ConfigNode::require_int(const std::string& key) const {
  if (!has(key)) fail(key, "missing (an integer is required)");
  return get_int(key, 0);
}

double ConfigNode::get_float(const std::string& key, double fallback) const {
  const json* value = lookup(key);
  double result = fallback;
  if (value) {
    if (!value->is_number()) fail(key, str_cat("expected a number, got ", describe_value(*value)));
    result = value->get<double>();
  }
  record(key, result);
  return result;
}

double ConfigNode::require_float(const std::string& key) const {
  if (!has(key)) fail(key, "missing (a number is required)");
  return get_float(key, 0.0);
}

bool ConfigNode::get_bool(const std::string& key, bool fallback) const {
  const json* value = lookup(key);
  bool result = fallback;
  if (value) {
    if (!value->is_boolean()) fail(key, str_cat("expected true or false, got ", describe_value(*value)));
    result = value->get<bool>();
  }
  record(key, result);
  return result;
}

std::string ConfigNode::get_string(const std::string& key, const std::string& fallback) const {
  const json* value = lookup(key);
  std::string result = fallback;
  if (value) {
    if (!value->is_string()) fail(key, str_cat("expected a string, got ", describe_value(*value)));
    result = value->get<std::string>();
  }
  record(key, result);
  return result;
}

std::string ConfigNode::require_string(const std::string& key) const {
  if (!has(key)) fail(key, "missing (a string is required)");
  return get_string(key, "");
}

std::string ConfigNode::get_choice(const std::string& key, const std::string& fallback,
                                   const std::vector<std::string>& choices) const {
  std::string result = get_string(key, fallback);
  for (const std::string& choice : choices) {
    if (choice == result) return result;
  }
  fail(key, str_cat("expected one of ", join_list(choices), "; got \"", result, "\""));
}

namespace {
template <class T, class Check>
std::vector<T> get_array(const ConfigNode& node, const json* value, const std::string& key, const char* what, Check check) {
  std::vector<T> result;
  if (!value->is_array()) node.fail(key, str_cat("expected an array of ", what, ", got ", describe_value(*value)));
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!check(item)) node.fail(key, str_cat("element ", i, ": expected ", what, ", got ", describe_value(item)));
    result.push_back(item.get<T>());
  }
  return result;
}
}  // namespace

std::vector<std::string> ConfigNode::get_strings(const std::string& key, const std::vector<std::string>& fallback) const {
  const json* value = lookup(key);
  std::vector<std::string> result =
      value ? get_array<std::string>(*this, value, key, "strings", [](const json& j) { return j.is_string(); }) : fallback;
  record(key, result);
  return result;
}

std::vector<double> ConfigNode::get_floats(const std::string& key, const std::vector<double>& fallback) const {
  const json* value = lookup(key);
  std::vector<double> result =
      value ? get_array<double>(*this, value, key, "numbers", [](const json& j) { return j.is_number(); }) : fallback;
  record(key, result);
  return result;
}

std::vector<int64_t> ConfigNode::get_ints(const std::string& key, const std::vector<int64_t>& fallback) const {
  const json* value = lookup(key);
  std::vector<int64_t> result =
      value ? get_array<int64_t>(*this, value, key, "integers", [](const json& j) { return j.is_number_integer(); })
            : fallback;
  record(key, result);
  return result;
}

std::string ConfigNode::require_existing_path(const std::string& key) const {
  std::string path = require_string(key);
  if (!std::filesystem::exists(path)) fail(key, str_cat("'", path, "' does not exist"));
  return path;
}

std::string ConfigNode::get_existing_path(const std::string& key, const std::string& fallback) const {
  std::string path = get_string(key, fallback);
  if (!path.empty() && !std::filesystem::exists(path)) fail(key, str_cat("'", path, "' does not exist"));
  return path;
}

ConfigNode ConfigNode::child(const std::string& key) const {
  const json* value = lookup(key);
  if (value && !value->is_object()) fail(key, str_cat("expected an object {...}, got ", describe_value(*value)));
  json* node = &state_->resolved;
  for (const std::string& part : split_dotted(key_path(key))) {
    json& next = (*node)[part];
    if (!next.is_object()) next = json::object();
    node = &next;
  }
  return ConfigNode(state_, key_path(key));
}

}  // namespace xmkd::io
