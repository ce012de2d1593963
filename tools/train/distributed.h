// The processes of a data-parallel run (train.distributed; docs/distributed.md).
//
//   "none"  one process (the default)
//   "mpi"   one process per rank started by mpirun / srun; gradients, statistics and metrics are
//           summed with MPI (OpenMPI) on host memory. CPU training, or CUDA with host staging.
//   "nccl"  CUDA only: the same with NCCL's collectives on the GPU, one GPU per rank (the node's
//           local rank picks it); MPI starts the processes and hands NCCL its id.
//
// A job's ranks are told apart by MPI; the launcher sets the rank count (mpirun -np N). Rank 0
// writes every file of the run; all ranks read the configuration, the data and, on resume,
// last.safetensors.
#pragma once
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/distributed.h"

namespace xmkd::train {

std::vector<std::string> distributed_backends();   // "none", "mpi", "nccl"
bool mpi_compiled();
bool nccl_compiled();

// The communicator of `backend` for training on `device`; starts MPI on first use and, unless
// OMP_NUM_THREADS is set, gives each of the node's ranks an equal share of its cores. Errors: a
// backend this build lacks, nccl off CUDA. "none" gives a LocalCommunicator.
std::shared_ptr<Communicator> make_communicator(const std::string& backend, Device device);

// The rank count the launcher announces in the environment (OpenMPI, PMI, Slurm), 1 when none:
// how `xmkd train` tells a job started by mpirun whose configuration forgot train.distributed.
int launched_ranks();

// True once MPI runs with more than one rank. Then a fatal error on any rank must end the job:
// abort_job prints the message with the rank and makes MPI end every rank (MPI_Abort), so that
// no rank waits forever in a collective for one that died. Files are written atomically, so the
// last checkpoint survives.
bool in_multi_rank_job();
[[noreturn]] void abort_job(const std::string& message, int status);

}  // namespace xmkd::train
