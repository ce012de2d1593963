#include "tools/xmkd/commands.h"
namespace xmkd::cli {
void register_parity(CLI::App&) {}
}  // namespace xmkd::cli
