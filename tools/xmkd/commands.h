// Each subcommand of the xmkd program lives in its own file and registers itself on the app.
#pragma once
#include <CLI/CLI.hpp>

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

}  // namespace xmkd::cli
