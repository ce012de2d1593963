// JSON configuration read key by key. A component asks its ConfigNode for each key it
// understands, with a default where the key is optional; every answer (given or default) goes
// into the resolved configuration, which a run writes beside its results. Afterwards
// Config::check_all_used() rejects any key nobody asked for, so a misspelt key is an error
// instead of a silently ignored setting.
//
// Every error names the file and the dotted key and says what was expected:
//   configs/x.json: key 'train.epochs': expected an integer, got "ten"
//   configs/x.json: unknown key 'train.epoch' (did you mean 'train.epochs'?)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xmkd::io {

class ConfigNode;

// The JSON document in the file `path` (comments allowed). Errors name the file: it cannot be
// opened ("<path>: cannot open" followed by `hint`), or it is not valid JSON (line and column).
nlohmann::json read_json_file(const std::string& path, const std::string& hint = "");

class Config {
 public:
  // Reads `path`, then applies each "dotted.key=value" override: value is parsed as JSON when it
  // is valid JSON (numbers, true/false, [..], {..}, "quoted") and taken as a string otherwise.
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  static Config from_json(nlohmann::json json, std::string source = "config");

  ConfigNode root();
  // Throws naming every key present in the file that no component read (with a suggestion).
  void check_all_used() const;
  // The configuration as it was used: every key read, with defaults filled in.
  const nlohmann::json& resolved() const;
  const std::string& source() const;

  struct State;

 private:
  explicit Config(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// One JSON object of a Config at a dotted path ("" is the root).
class ConfigNode {
 public:
  bool has(const std::string& key) const;
  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const;   // "train.epochs"

  // Optional keys return the default when absent (and record it); required ones throw.
  int64_t get_int(const std::string& key, int64_t fallback) const;
  int64_t require_int(const std::string& key) const;
  double get_float(const std::string& key, double fallback) const;
  double require_float(const std::string& key) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::string require_string(const std::string& key) const;
  // A string that must be one of `choices`; the error lists them.
  std::string get_choice(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& choices) const;
  std::vector<std::string> get_strings(const std::string& key, const std::vector<std::string>& fallback) const;
  std::vector<double> get_floats(const std::string& key, const std::vector<double>& fallback) const;
  std::vector<int64_t> get_ints(const std::string& key, const std::vector<int64_t>& fallback) const;
  // A path that must exist (a file or a directory); relative paths are taken as they are
  // (relative to the working directory), and the error names the key and the path.
  std::string require_existing_path(const std::string& key) const;
  std::string get_existing_path(const std::string& key, const std::string& fallback) const;

  // A nested object; absent means an empty object (every key takes its default).
  ConfigNode child(const std::string& key) const;
  // Throws "<file>: key 'k': <message>" (for checks of values a component makes itself).
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  friend class Config;
  ConfigNode(std::shared_ptr<Config::State> state, std::string path) : state_(std::move(state)), path_(std::move(path)) {}
  const nlohmann::json* lookup(const std::string& key) const;   // marks the key used; null if absent
  void record(const std::string& key, const nlohmann::json& value) const;

  std::shared_ptr<Config::State> state_;
  std::string path_;
};

}  // namespace xmkd::io
