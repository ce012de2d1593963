// engine/io/config.h: typed reads with defaults, the resolved configuration, unknown keys with
// suggestions, --set overrides, and errors that name the file and the dotted key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/io/config.h"
#include "tests/support/errors.h"
#include "tests/support/temp_dir.h"

namespace xmkd {
namespace {

namespace fs = std::filesystem;
using io::Config;
using nlohmann::json;
using testing::contains;
using testing::error_message;

Config from(const char* text) { return Config::from_json(json::parse(text), "cfg.json"); }

class ConfigFile : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = dir_.path(name);
    std::ofstream(p) << text;
    return p;
  }
  testing::TempDir dir_{"xmkd_config"};
};

TEST(Config, TypedReadsAndDefaults) {
  Config c = from(R"({"train": {"epochs": 5, "lr": 0.1, "whole": 3.0, "ratio": 2, "flag": true, "name": "adam",
                      "sizes": [1, 2], "names": ["a", "b"], "floats": [1, 2.5]}})");
  io::ConfigNode train = c.root().child("train");
  EXPECT_EQ(train.get_int("epochs", 1), 5);
  EXPECT_EQ(train.get_int("whole", 0), 3);          // 3.0 is an integer
  EXPECT_EQ(train.get_int("absent", 7), 7);
  EXPECT_DOUBLE_EQ(train.get_float("lr", 0), 0.1);
  EXPECT_DOUBLE_EQ(train.get_float("ratio", 0), 2.0);   // an integer is a number
  EXPECT_TRUE(train.get_bool("flag", false));
  EXPECT_EQ(train.get_string("name", ""), "adam");
  EXPECT_EQ(train.get_ints("sizes", {}), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(train.get_strings("names", {}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(train.get_floats("floats", {}), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(train.get_floats("absent_floats", {0.5}), (std::vector<double>{0.5}));
  EXPECT_EQ(train.key_path("epochs"), "train.epochs");
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(Config, WrongTypesNameFileKeyAndValue) {
  Config c = from(R"({"train": {"epochs": "ten", "half": 2.5, "lr": "fast", "flag": 1, "name": 3,
                      "sizes": [1, "x"], "opt": 4}})");
  io::ConfigNode t = c.root().child("train");
  std::string m = error_message([&] { t.get_int("epochs", 1); });
  EXPECT_TRUE(contains(m, "cfg.json: key 'train.epochs': expected an integer, got string \"ten\"")) << m;
  m = error_message([&] { t.get_int("half", 1); });
  EXPECT_TRUE(contains(m, "train.half") && contains(m, "2.5")) << m;
  m = error_message([&] { t.get_float("lr", 1); });
  EXPECT_TRUE(contains(m, "train.lr") && contains(m, "expected a number")) << m;
  m = error_message([&] { t.get_bool("flag", false); });
  EXPECT_TRUE(contains(m, "train.flag") && contains(m, "expected true or false")) << m;
  m = error_message([&] { t.get_string("name", ""); });
  EXPECT_TRUE(contains(m, "train.name") && contains(m, "expected a string")) << m;
  m = error_message([&] { t.get_ints("sizes", {}); });
  EXPECT_TRUE(contains(m, "train.sizes") && contains(m, "element 1")) << m;
  m = error_message([&] { t.child("opt"); });
  EXPECT_TRUE(contains(m, "train.opt") && contains(m, "expected an object")) << m;
}

TEST(Config, RequiredKeysAndChoices) {
  Config c = from(R"({"data": {"format": "parquet"}})");
  io::ConfigNode data = c.root().child("data");
  std::string m = error_message([&] { data.require_string("root"); });
  EXPECT_TRUE(contains(m, "key 'data.root': missing")) << m;
  m = error_message([&] { data.require_int("count"); });
  EXPECT_TRUE(contains(m, "data.count") && contains(m, "missing")) << m;
  m = error_message([&] { data.require_float("scale"); });
  EXPECT_TRUE(contains(m, "data.scale") && contains(m, "missing")) << m;
  m = error_message([&] { data.get_choice("format", "synthetic", {"synthetic", "manifest"}); });
  EXPECT_TRUE(contains(m, "data.format") && contains(m, "synthetic, manifest") && contains(m, "parquet")) << m;
  EXPECT_EQ(data.get_choice("task", "classification", {"classification", "segmentation"}), "classification");
  m = error_message([&] { data.fail("size", "too small"); });
  EXPECT_EQ(m, "cfg.json: key 'data.size': too small");
}

TEST(Config, UnknownKeysGetSuggestions) {
  Config c = from(R"({"train": {"epoch": 3, "batch_size": 8, "zzz": 1}, "augmnt": {}, "data": {"format": "x"}})");
  io::ConfigNode root = c.root();
  root.child("train").get_int("epochs", 1);
  root.child("train").get_int("batch_size", 1);
  root.child("augment");
  root.child("data").get_string("format", "");
  const std::string m = error_message([&] { c.check_all_used(); });
  EXPECT_TRUE(contains(m, "unknown key 'train.epoch' (did you mean 'train.epochs'?)")) << m;
  EXPECT_TRUE(contains(m, "unknown key 'augmnt' (did you mean 'augment'?)")) << m;
  EXPECT_TRUE(contains(m, "unknown key 'train.zzz'")) << m;
  EXPECT_FALSE(contains(m, "'train.zzz' (did you mean")) << m;
  EXPECT_FALSE(contains(m, "data.format")) << m;
}

TEST(Config, UnreadSectionIsUnknownAndHasDoesNotCount) {
  Config c = from(R"({"train": {"epochs": 2}, "method": {"name": "x"}})");
  c.root().child("train").get_int("epochs", 1);
  EXPECT_TRUE(c.root().child("method").has("name"));   // asking is not reading
  const std::string m = error_message([&] { c.check_all_used(); });
  EXPECT_TRUE(contains(m, "unknown key 'method.name'")) << m;
  EXPECT_FALSE(c.root().has("missing"));
  EXPECT_FALSE(c.root().child("train").has("lr"));
}

TEST(Config, ResolvedHoldsGivenValuesAndDefaults) {
  Config c = from(R"({"train": {"epochs": 2, "optimizer": {"lr": 0.5}}, "ignored_until_read": 1})");
  io::ConfigNode train = c.root().child("train");
  train.get_int("epochs", 10);
  train.get_int("batch_size", 32);
  io::ConfigNode opt = train.child("optimizer");
  opt.get_float("lr", 1e-3);
  opt.get_string("name", "adam");
  opt.get_floats("betas", {0.9, 0.999});
  c.root().child("augment");   // absent section: an empty object
  const json& r = c.resolved();
  EXPECT_EQ(r["train"]["epochs"], 2);
  EXPECT_EQ(r["train"]["batch_size"], 32);
  EXPECT_EQ(r["train"]["optimizer"]["lr"], 0.5);
  EXPECT_EQ(r["train"]["optimizer"]["name"], "adam");
  EXPECT_EQ(r["train"]["optimizer"]["betas"], json({0.9, 0.999}));
  EXPECT_EQ(r["augment"], json::object());
  EXPECT_FALSE(r.contains("ignored_until_read"));
  EXPECT_EQ(c.source(), "cfg.json");
  // The resolved configuration read again gives the same answers and nothing unknown.
  Config again = Config::from_json(r, "resolved.json");
  EXPECT_EQ(again.root().child("train").get_int("batch_size", 1), 32);
}

TEST_F(ConfigFile, OverridesParseJsonOrStringsAndNest) {
  const std::string p = write("c.json", R"({
    // comments are allowed
    "train": {"epochs": 10, "optimizer": {"name": "sgd"}},
    "name": "base"})");
  Config c = Config::load(p, {"train.epochs=3", "train.optimizer.lr=0.25", "train.flag=true", "train.device=cuda",
                              "name=\"7\"", "data.modalities=[\"rgb\",\"depth\"]", "data.normalize={\"rgb\": {}}",
                              "new.deep.key=1e-3", "train.empty="});
  io::ConfigNode root = c.root();
  io::ConfigNode train = root.child("train");
  EXPECT_EQ(train.get_int("epochs", 0), 3);
  EXPECT_EQ(train.child("optimizer").get_string("name", ""), "sgd");   // siblings kept
  EXPECT_DOUBLE_EQ(train.child("optimizer").get_float("lr", 0), 0.25);
  EXPECT_TRUE(train.get_bool("flag", false));
  EXPECT_EQ(train.get_string("device", ""), "cuda");                    // not JSON: a string
  EXPECT_EQ(train.get_string("empty", "x"), "");
  EXPECT_EQ(root.get_string("name", ""), "7");                          // quoted: a string
  EXPECT_EQ(root.child("data").get_strings("modalities", {}), (std::vector<std::string>{"rgb", "depth"}));
  EXPECT_TRUE(root.child("data").child("normalize").child("rgb").path() == "data.normalize.rgb");
  EXPECT_DOUBLE_EQ(root.child("new").child("deep").get_float("key", 0), 1e-3);
  EXPECT_EQ(c.source(), p);
}

TEST_F(ConfigFile, OverrideAndFileErrors) {
  const std::string p = write("c.json", R"({"train": {"epochs": 10}})");
  std::string m = error_message([&] { Config::load(p, {"train.epochs"}); });
  EXPECT_TRUE(contains(m, "--set 'train.epochs'") && contains(m, "key=value")) << m;
  m = error_message([&] { Config::load(p, {"=3"}); });
  EXPECT_TRUE(contains(m, "key=value")) << m;
  m = error_message([&] { Config::load(p, {"train.epochs.x=1"}); });
  EXPECT_TRUE(contains(m, "'epochs' is a number") && contains(m, "not an object")) << m;
  m = error_message([&] { Config::load(write("bad.json", "{\"a\": 1,\n \"b\": }")); });
  EXPECT_TRUE(contains(m, "bad.json") && contains(m, "not valid JSON") && contains(m, "line 2, column")) << m;

  // A bad key or value given with --set is the option's fault, not the file's.
  Config c = Config::load(p, {"train.epoch=3"});
  c.root().child("train").get_int("epochs", 1);
  m = error_message([&] { c.check_all_used(); });
  EXPECT_TRUE(contains(m, "--set 'train.epoch=3': unknown key 'train.epoch' (did you mean 'train.epochs'?)")) << m;
  EXPECT_FALSE(contains(m, "c.json")) << m;
  Config typed = Config::load(p, {"train={\"epochs\": \"ten\"}"});
  m = error_message([&] { typed.root().child("train").get_int("epochs", 1); });
  EXPECT_TRUE(contains(m, "--set 'train={\"epochs\": \"ten\"}': key 'train.epochs'")) << m;
  Config file_key = Config::load(write("typo.json", R"({"train": {"epoch": 10}})"), {"train.epochs=3"});
  file_key.root().child("train").get_int("epochs", 1);
  m = error_message([&] { file_key.check_all_used(); });
  EXPECT_TRUE(contains(m, "typo.json: unknown key 'train.epoch'")) << m;
  m = error_message([&] { Config::load(write("list.json", "[1, 2]")); });
  EXPECT_TRUE(contains(m, "must be a JSON object")) << m;
  m = error_message([&] { Config::load((dir_.root() / "absent.json").string()); });
  EXPECT_TRUE(contains(m, "absent.json") && contains(m, "cannot open")) << m;
}

TEST_F(ConfigFile, ExistingPaths) {
  const std::string file = write("data.txt", "x");
  Config c = Config::from_json({{"data", {{"path", file}, {"dir", dir_.root().string()}, {"gone", (dir_.root() / "gone").string()}}}}, "cfg.json");
  io::ConfigNode data = c.root().child("data");
  EXPECT_EQ(data.require_existing_path("path"), file);
  EXPECT_EQ(data.get_existing_path("dir", ""), dir_.root().string());
  EXPECT_EQ(data.get_existing_path("unset", ""), "");   // an empty default is not checked
  std::string m = error_message([&] { data.require_existing_path("gone"); });
  EXPECT_TRUE(contains(m, "key 'data.gone'") && contains(m, "gone' does not exist")) << m;
  m = error_message([&] { data.require_existing_path("absent"); });
  EXPECT_TRUE(contains(m, "data.absent") && contains(m, "missing")) << m;
  m = error_message([&] { data.get_existing_path("other", (dir_.root() / "nope").string()); });
  EXPECT_TRUE(contains(m, "data.other") && contains(m, "does not exist")) << m;
}

}  // namespace
}  // namespace xmkd
