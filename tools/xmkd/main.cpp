// xmkd: the command-line program. `xmkd --help` lists the subcommands.
#include <cstdio>

#include "engine/error.h"
#include "tools/train/distributed.h"
#include "tools/xmkd/commands.h"
#include "xmkd_version.h"

std::string xmkd::cli::version_line() { return str_cat("xmkd ", XMKD_VERSION, " (commit ", XMKD_GIT_COMMIT, ")"); }

int& xmkd::cli::exit_status() {
  static int status = 0;
  return status;
}

namespace {
constexpr int kUsageStatus = 2;   // as command-line conventions have it (sysexits' EX_USAGE is 64; shells use 2)
}

int main(int argc, char** argv) {
  CLI::App app{"xmkd: cross-modal knowledge distillation engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", xmkd::cli::version_line());
  app.footer("Exit status: 0 on success, 1 when a command fails (the message says why), 2 for a usage error "
             "(an unknown option, a missing argument), 130 when training is interrupted by Ctrl-C.");
  xmkd::cli::register_info(app);
  xmkd::cli::register_parity(app);
  xmkd::cli::register_bench(app);
  xmkd::cli::register_datagen(app);
  xmkd::cli::register_fashion_mnist(app);
  xmkd::cli::register_export(app);
  xmkd::cli::register_predict(app);
  xmkd::cli::register_train(app);
  xmkd::cli::register_eval(app);
  xmkd::cli::register_report(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);   // prints help, the version, or the usage error
    return status == 0 ? 0 : kUsageStatus;
  } catch (const xmkd::Error& e) {
    // One rank of a data-parallel job: the others would wait for it forever, so end them all.
    if (xmkd::train::in_multi_rank_job()) xmkd::train::abort_job(e.what(), 1);
    std::fprintf(stderr, "xmkd: error: %s\n", e.what());
    return 1;
  }
  return xmkd::cli::exit_status();
}
