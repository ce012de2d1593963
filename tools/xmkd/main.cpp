// xmkd: the command-line program. `xmkd --help` lists the subcommands.
#include <cstdio>

#include "engine/error.h"
#include "tools/xmkd/commands.h"

int& xmkd::cli::exit_status() {
  static int status = 0;
  return status;
}

int main(int argc, char** argv) {
  CLI::App app{"xmkd: cross-modal knowledge distillation engine"};
  app.require_subcommand(1);
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
    return app.exit(e);
  } catch (const xmkd::Error& e) {
    std::fprintf(stderr, "xmkd: error: %s\n", e.what());
    return 1;
  }
  return xmkd::cli::exit_status();
}
