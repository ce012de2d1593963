#include "tools/xmkd/commands.h"
namespace xmkd::cli {
void register_bench(CLI::App&) {}
}  // namespace xmkd::cli
