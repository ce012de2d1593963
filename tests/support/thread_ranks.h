// The ranks of a data-parallel job as threads of one process, for tests of what the ranks
// compute together (sync_batch_norm, GradientReducer) without a launcher: run_ranks(n, body)
// runs body(comm) on n threads, each with the Communicator of its rank. A sum is formed in rank
// order (0, 1, ...) on every rank, so every rank gets the same bits, as from MPI with 2 ranks.
#pragma once
#include <functional>
#include <memory>

#include "engine/distributed.h"

namespace xmkd::testing {

void run_ranks(int n, const std::function<void(Communicator& comm)>& body);

}  // namespace xmkd::testing
