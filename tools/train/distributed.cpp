#include "tools/train/distributed.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/cuda/runtime.h"

#if XMKD_WITH_MPI
#include <mpi.h>
#endif
#if XMKD_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace xmkd::train {

namespace {

int env_int(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : 0;
}

#if XMKD_WITH_MPI

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("MPI ", what, " failed: ", std::string(text, static_cast<size_t>(length)));
}

// MPI for the life of the process: started on first use, finalised at exit.
struct MpiRuntime {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;

  MpiRuntime() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;   // only the training thread calls MPI; the loader's workers never do
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node;   // the ranks sharing this machine: their cores and GPUs are split between them
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
  }
  ~MpiRuntime() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
};

MpiRuntime& mpi_runtime() {
  static MpiRuntime runtime;
  return runtime;
}
bool g_mpi_started = false;

MPI_Datatype mpi_type(const Tensor& t, const char* what) {
  if (t.dtype() == DType::Float32) return MPI_FLOAT;
  if (t.dtype() == DType::Int64) return MPI_INT64_T;
  fail("MPI ", what, ": ", t.str(), " is neither float32 nor int64");
}

int mpi_count(const Tensor& t) {
  XMKD_CHECK(t.numel() <= (int64_t{1} << 31) - 1, "MPI: ", t.str(), " has more than 2^31 - 1 elements");
  return static_cast<int>(t.numel());
}

// Host memory holding t's values for MPI (t itself on the CPU, a copy staged from the GPU).
class HostView {
 public:
  explicit HostView(Tensor& t) : t_(t), host_(t.device() == Device::CPU ? t : t.to(Device::CPU)) {}
  void* data() { return host_.raw_data(); }
  void write_back() {
    if (!host_.same_as(t_)) t_.copy_from(host_);
  }

 private:
  Tensor& t_;
  Tensor host_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() : runtime_(mpi_runtime()) {}
  int rank() const override { return runtime_.rank; }
  int size() const override { return runtime_.size; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(Tensor& t) override {
    HostView host(t);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, host.data(), mpi_count(t), mpi_type(t, "all-reduce"), MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
    host.write_back();
  }

  // A non-blocking all-reduce; MPI advances it inside MPI calls, so progress() tests it.
  class Request : public Pending {
   public:
    explicit Request(Tensor& t) : host_(t) {
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, host_.data(), mpi_count(t), mpi_type(t, "all-reduce"), MPI_SUM,
                               MPI_COMM_WORLD, &request_),
                "MPI_Iallreduce");
    }
    void progress() override {
      int done = 0;
      if (request_ != MPI_REQUEST_NULL) check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    }
    void wait() override {
      check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait");
      host_.write_back();
    }

   private:
    HostView host_;
    MPI_Request request_ = MPI_REQUEST_NULL;
  };
  std::unique_ptr<Pending> start_all_reduce_sum(Tensor& t) override { return std::make_unique<Request>(t); }

  void broadcast(Tensor& t, int root) override {
    HostView host(t);
    XMKD_CHECK(t.nbytes() <= (size_t{1} << 31) - 1, "MPI broadcast: ", t.str(), " is larger than 2 GiB");
    check_mpi(MPI_Bcast(host.data(), static_cast<int>(t.nbytes()), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    host.write_back();
  }

 private:
  MpiRuntime& runtime_;
};

#endif  // XMKD_WITH_MPI

#if XMKD_WITH_NCCL

void check_nccl(ncclResult_t code, const char* what) {
  if (code != ncclSuccess) fail("NCCL ", what, " failed: ", ncclGetErrorString(code));
}
void check_cuda(cudaError_t code, const char* what) {
  if (code != cudaSuccess) fail("CUDA ", what, " failed: ", cudaGetErrorString(code));
}

ncclDataType_t nccl_type(const Tensor& t) {
  if (t.dtype() == DType::Float32) return ncclFloat32;
  if (t.dtype() == DType::Int64) return ncclInt64;
  fail("NCCL all-reduce: ", t.str(), " is neither float32 nor int64");
}

// NCCL on the GPU of this rank: MPI starts the processes and broadcasts NCCL's id. Collectives
// run on their own stream, ordered after the compute stream's work by an event and before the
// compute stream's later work by another, so a bucket's all-reduce overlaps the rest of backward.
// A CPU tensor (losses, confusion counts) is staged through the GPU.
class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator() : runtime_(mpi_runtime()) {
    const int devices = cuda::device_count();
    XMKD_CHECK(devices > 0, "train.distributed 'nccl': no CUDA device (", cuda::device_status(), ")");
    cuda::set_device(runtime_.local_rank % devices);
    ncclUniqueId id;
    if (runtime_.rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    check_mpi(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast of the NCCL id");
    check_nccl(ncclCommInitRank(&comm_, runtime_.size, id, runtime_.rank), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~NcclCommunicator() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(comm_stream_);
  }
  int rank() const override { return runtime_.rank; }
  int size() const override { return runtime_.size; }
  std::string backend() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t) override { start_all_reduce_sum(t)->wait(); }

  class Request : public Pending {
   public:
    Request(Tensor& t, ncclComm_t comm, cudaStream_t comm_stream) : t_(t), device_(t.to(Device::CUDA)) {
      compute_ = static_cast<cudaStream_t>(cuda::current_stream());
      check_cuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
      check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
      check_cuda(cudaEventRecord(ready_, compute_), "cudaEventRecord");
      check_cuda(cudaStreamWaitEvent(comm_stream, ready_, 0), "cudaStreamWaitEvent");
      check_nccl(ncclAllReduce(device_.raw_data(), device_.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum,
                               comm, comm_stream),
                 "ncclAllReduce");
      check_cuda(cudaEventRecord(done_, comm_stream), "cudaEventRecord");
    }
    ~Request() override {
      cudaEventDestroy(ready_);
      cudaEventDestroy(done_);
    }
    void wait() override {
      // The compute stream's later work sees the sum; a CPU tensor is copied back (synchronously).
      check_cuda(cudaStreamWaitEvent(compute_, done_, 0), "cudaStreamWaitEvent");
      if (!device_.same_as(t_)) t_.copy_from(device_);
    }

   private:
    Tensor& t_;
    Tensor device_;
    cudaStream_t compute_ = nullptr;
    cudaEvent_t ready_ = nullptr, done_ = nullptr;
  };
  std::unique_ptr<Pending> start_all_reduce_sum(Tensor& t) override {
    return std::make_unique<Request>(t, comm_, comm_stream_);
  }

  void broadcast(Tensor& t, int root) override {
    Tensor device = t.to(Device::CUDA);
    // On the compute stream: ordered with the kernels that read and write t.
    check_nccl(ncclBroadcast(device.raw_data(), device.raw_data(), t.nbytes(), ncclUint8, root, comm_,
                             static_cast<cudaStream_t>(cuda::current_stream())),
               "ncclBroadcast");
    if (!device.same_as(t)) t.copy_from(device);
  }

 private:
  MpiRuntime& runtime_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;
};

#endif  // XMKD_WITH_NCCL

// Each of the node's ranks gets an equal share of its cores for OpenMP (and OpenBLAS, which
// shares OpenMP's pool), unless the user chose with OMP_NUM_THREADS.
void split_cores(int local_ranks) {
  if (std::getenv("OMP_NUM_THREADS") || local_ranks <= 1) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(std::max(1, cores / local_ranks));
}

}  // namespace

std::vector<std::string> distributed_backends() { return {"none", "mpi", "nccl"}; }

bool mpi_compiled() {
#if XMKD_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool nccl_compiled() {
#if XMKD_WITH_NCCL
  return true;
#else
  return false;
#endif
}

int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (const int n = env_int(name); n > 0) return n;
  return 1;
}

std::shared_ptr<Communicator> make_communicator(const std::string& backend, Device device) {
  if (backend == "none") return std::make_shared<LocalCommunicator>();
  XMKD_CHECK(backend == "mpi" || backend == "nccl", "train.distributed: unknown backend '", backend, "' (known: ",
             join_list(distributed_backends()), ")");
#if XMKD_WITH_MPI
  if (backend == "nccl") {
#if XMKD_WITH_NCCL
    XMKD_CHECK(device == Device::CUDA, "train.distributed 'nccl' needs train.device 'cuda' (use 'mpi' on the CPU)");
    const MpiRuntime& runtime = mpi_runtime();
    g_mpi_started = true;
    split_cores(runtime.local_size);
    return std::make_shared<NcclCommunicator>();
#else
    fail("train.distributed 'nccl': xmkd was built without NCCL (it needs a CUDA build with nccl.h and libnccl; "
         "use 'mpi')");
#endif
  }
  const MpiRuntime& runtime = mpi_runtime();
  g_mpi_started = true;
  split_cores(runtime.local_size);
  return std::make_shared<MpiCommunicator>();
#else
  (void)device;
  fail("train.distributed '", backend, "': xmkd was built without MPI (apt-get install libopenmpi-dev openmpi-bin, "
       "then rebuild with scripts/setup.sh)");
#endif
}

bool in_multi_rank_job() {
#if XMKD_WITH_MPI
  return g_mpi_started && mpi_runtime().size > 1;
#else
  return false;
#endif
}

void abort_job(const std::string& message, int status) {
#if XMKD_WITH_MPI
  const MpiRuntime& runtime = mpi_runtime();
  std::fprintf(stderr, "xmkd: error (rank %d of %d): %s\n", runtime.rank, runtime.size, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, status);
#else
  std::fprintf(stderr, "xmkd: error: %s\n", message.c_str());
#endif
  std::exit(status);
}

}  // namespace xmkd::train
