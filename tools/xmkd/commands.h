// Each subcommand of the xmkd program lives in its own file and registers itself on the app.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace xmkd::cli {

void register_info(CLI::App& app);
void register_parity(CLI::App& app);
void register_bench(CLI::App& app);
void register_datagen(CLI::App& app);
void register_fashion_mnist(CLI::App& app);
void register_export(CLI::App& app);
void register_predict(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_report(CLI::App& app);

// The program's exit status once the subcommand returns (0 unless a subcommand sets it, e.g.
// 130 for a training run stopped by Ctrl-C).
int& exit_status();

// "xmkd 0.2.0 (commit 1b330a9c0e2f)": what --version and `xmkd info` print first.
std::string version_line();

}  // namespace xmkd::cli
