// Every config the project ships (configs/synthetic/, configs/recipes/) is a valid configuration
// of the real methods: the Trainer reads and validates the whole file when it is constructed (an
// unknown key, a wrong type, a bad choice is an error), so each is constructed here. Two things
// are replaced, keeping every key name: the data section, by a small synthetic dataset of the
// config's task (a recipe's dataset is not here; the readers' own keys are tested in
// test_trainer.cpp), and the batch size, capped at the small training split. The distillation
// configs name a teacher run: tiny teachers are trained first, for one epoch, from the shipped
// teacher configs themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/io/config.h"
#include "tools/train/trainer.h"
#include "tests/support/temp_dir.h"

namespace xmkd::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kConfigs = XMKD_CONFIG_DIR;

class ShippedConfigs : public ::testing::Test {
 protected:
  // The config at kConfigs/relative, on a 60-scene 32x32 synthetic dataset of `task`, with its
  // run directory in the test's folder and a batch size the 42 training scenes can fill.
  json small(const std::string& relative, const std::string& task) const {
    json cfg = json::parse(std::ifstream(kConfigs / relative));
    json data = {{"format", "synthetic"}, {"task", task}, {"size", 32}, {"count", 60}, {"seed", 1}};
    for (const char* key : {"depth_encoding", "depth_options"})   // the encoding is validated too
      if (cfg["data"].contains(key)) data[key] = cfg["data"][key];
    cfg["data"] = data;
    const int64_t batch = cfg["train"].value("batch_size", 32);
    cfg["train"]["batch_size"] = std::min<int64_t>(batch, 8);
    if (cfg["train"].contains("eval_batch_size")) cfg["train"]["eval_batch_size"] = 8;
    cfg["run"]["dir"] = run_dir(relative);
    return cfg;
  }
  std::string run_dir(const std::string& relative) const {
    std::string name = relative;
    std::replace(name.begin(), name.end(), '/', '_');
    return dir_.path(name);
  }
  static Trainer construct(const json& cfg, const std::string& relative) {
    TrainerOptions options;
    options.print_evaluation = false;
    return Trainer(io::Config::from_json(cfg, relative), options);
  }
  // Trains a shipped teacher config for one epoch and returns its run directory.
  std::string teacher(const std::string& relative, const std::string& task) const {
    json cfg = small(relative, task);
    cfg["train"]["epochs"] = 1;
    cfg["train"]["workers"] = 0;
    cfg["run"]["dir"] = run_dir("trained_" + relative);   // its config is also constructed on its own
    Trainer trainer = construct(cfg, relative);
    EXPECT_EQ(trainer.run(), TrainStatus::Finished) << relative;
    return cfg["run"]["dir"];
  }

  testing::TempDir dir_{"xmkd_configs"};
};

TEST_F(ShippedConfigs, EverySyntheticConfigIsValid) {
  const std::map<std::string, std::string> teachers = {
      {"cls_kd.json", teacher("synthetic/cls_teacher.json", "classification")},
      {"seg_kd.json", teacher("synthetic/seg_teacher.json", "segmentation")},
      {"seg_anyseg_student.json", teacher("synthetic/seg_anyseg_teacher.json", "segmentation")},
  };
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kConfigs / "synthetic")) {
    const std::string file = entry.path().filename().string();
    SCOPED_TRACE(file);
    const json shipped = json::parse(std::ifstream(entry.path()));
    ASSERT_EQ(shipped["data"]["format"], "synthetic");
    json cfg = small("synthetic/" + file, shipped["data"]["task"]);
    if (teachers.count(file)) cfg["method"]["teacher"]["run"] = teachers.at(file);
    EXPECT_NO_THROW(construct(cfg, "synthetic/" + file));
    ++checked;
  }
  EXPECT_EQ(checked, 10);   // student, teacher, kd for both tasks; discom_kd; crodino_kd, anyseg x2
}

TEST_F(ShippedConfigs, EveryRecipeIsValidApartFromItsData) {
  // Each recipe's task, from its dataset.
  const std::map<std::string, std::string> recipes = {
      {"discom_npy_discom_kd.json", "classification"}, {"sunrgbd_kv2_discom_kd.json", "classification"},
      {"sunrgbd_kv2_student.json", "classification"},  {"nyudv2_crodino_kd.json", "segmentation"},
      {"nyudv2_student.json", "segmentation"},
  };
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kConfigs / "recipes")) {
    const std::string file = entry.path().filename().string();
    SCOPED_TRACE(file);
    ASSERT_TRUE(recipes.count(file)) << "a new recipe: add its task to this test";
    EXPECT_NO_THROW(construct(small("recipes/" + file, recipes.at(file)), "recipes/" + file));
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(recipes.size()));
}

}  // namespace
}  // namespace xmkd::train
