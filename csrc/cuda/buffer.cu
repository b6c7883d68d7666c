// buffer.cu — device queries, the one stream, and host<->device copies.
// The stream is created lazily (first kernel or copy) as a non-blocking stream on device 0;
// all kernels and copies are enqueued on it, so work is ordered without host waits. The
// host waits only in copy_to_host (it reads the data) and synchronize(); both raise the
// deferred device errors (check.cuh) kernels recorded since the last wait. DLPack exchanges
// (module_cuda.cc) order another library's stream after ours with an event (order_consumer),
// and hand imported memory back only after a wait (wait_stream_quiet).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "check.cuh"

namespace nx::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the error so later queries report afresh
    return 0;
  }
  return n;
}

std::string unavailable_reason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return cudaGetErrorString(e);
  }
  return n == 0 ? "no CUDA device found" : "";
}

std::string device_name(int index) {
  int n = device_count();
  NX_CHECK(index >= 0 && index < n, "device_name: index ", index, " out of range (", n, " devices)");
  cudaDeviceProp prop;
  NX_CUDA(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

int runtime_version() { return CUDART_VERSION; }

int clock_khz(int index) {
  int v = 0;
  NX_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrClockRate, index));
  return v;
}

namespace {
std::once_flag g_stream_once;
cudaStream_t g_stream = nullptr;
cudaError_t g_stream_err = cudaSuccess;
int g_sms = 0;
}  // namespace

cudaStream_t stream() {
  std::call_once(g_stream_once, [] {
    g_stream_err = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking);
    if (g_stream_err == cudaSuccess)
      g_stream_err = cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, 0);
#if NX_EMULATED
    // The emulated device reports the host's cores; NEURAXON_EMU_SM_COUNT=132 makes it plan
    // every launch as for an H100 (the multi-block paths and the launch-geometry report).
    if (const char* e = std::getenv("NEURAXON_EMU_SM_COUNT")) g_sms = std::max(1, std::atoi(e));
#endif
    if (g_stream_err != cudaSuccess) cudaGetLastError();
  });
  // A failed creation (no driver, no device) is reported on every use, never cached as ok.
  NX_CUDA(g_stream_err);
  return g_stream;
}

int sm_count() {
  stream();
  return g_sms > 0 ? g_sms : 1;
}

namespace {
std::atomic<int64_t> g_host_syncs{0};

std::once_flag g_error_once;
DeviceError* g_error = nullptr;
cudaError_t g_error_err = cudaSuccess;
std::atomic<bool> g_error_pending{false};  // a checking kernel ran since the last read

// After a sync: raises the error a kernel recorded since the last read, and clears it.
void raise_device_error() {
  if (!g_error_pending.exchange(false)) return;
  DeviceError e{};
  // The stream is idle: this copy does not wait for any work (not a counted host sync).
  NX_CUDA(cudaMemcpyAsync(&e, g_error, sizeof e, cudaMemcpyDeviceToHost, stream()));
  NX_CUDA(cudaStreamSynchronize(stream()));
  if (!e.claimed) return;
  NX_CUDA(cudaMemsetAsync(g_error, 0, sizeof e, stream()));
  const auto format = reinterpret_cast<ErrorFormat>(static_cast<uintptr_t>(e.ctx.format));
  const char* name = reinterpret_cast<const char*>(static_cast<uintptr_t>(e.ctx.name));
  const std::string msg = cat(format(name, e), " (found on the device by an earlier ", name,
                              " call: CUDA kernels run asynchronously, so it is reported at the "
                              "next synchronization)");
  if (e.ctx.type == ErrorContext::kIndexError) throw std::out_of_range(msg);
  if (e.ctx.type == ErrorContext::kRuntimeError) throw std::runtime_error(msg);
  throw std::invalid_argument(msg);
}
}  // namespace

DeviceError* device_error() {
  std::call_once(g_error_once, [] {
    void* p = nullptr;
    g_error_err = cudaMalloc(&p, sizeof(DeviceError));
    if (g_error_err == cudaSuccess) g_error_err = cudaMemsetAsync(p, 0, sizeof(DeviceError), stream());
    if (g_error_err != cudaSuccess) cudaGetLastError();
    g_error = static_cast<DeviceError*>(p);
  });
  NX_CUDA(g_error_err);
  return g_error;
}

ErrorContext error_context(ErrorFormat f, const char* name, long long a0, long long a1,
                           long long a2, long long a3) {
  device_error();
  g_error_pending.store(true);
  ErrorContext c;
  c.format = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(f));
  c.name = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(name));
  c.a[0] = a0, c.a[1] = a1, c.a[2] = a2, c.a[3] = a3;
  return c;
}

namespace {
std::atomic<bool> g_launch_log_on{false}, g_launch_dry{false};
std::mutex g_launch_log_mu;
std::vector<LaunchRecord> g_launch_log;
}  // namespace

void note_launch(const char* kernel, dim3 grid, dim3 block) {
  if (!g_launch_log_on.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(g_launch_log_mu);
  g_launch_log.push_back({kernel, grid.x, grid.y, grid.z, block.x * block.y * block.z});
}

void set_launch_log(bool on, bool dry) {
  NX_CHECK(!dry || NX_EMULATED, "set_launch_log: dry runs exist only on the emulated device");
  std::lock_guard<std::mutex> lock(g_launch_log_mu);
  if (on) g_launch_log.clear();
  g_launch_log_on.store(on);
  g_launch_dry.store(on && dry);
}

bool launch_dry() { return g_launch_dry.load(std::memory_order_relaxed); }

std::vector<LaunchRecord> take_launch_log() {
  std::lock_guard<std::mutex> lock(g_launch_log_mu);
  return std::move(g_launch_log);
}

void wait_stream() {
  g_host_syncs.fetch_add(1, std::memory_order_relaxed);
  NX_CUDA(cudaStreamSynchronize(stream()));
  raise_device_error();
}
int64_t host_sync_count() { return g_host_syncs.load(std::memory_order_relaxed); }

void synchronize() { wait_stream(); }

void copy_to_device(void* dst, const void* src, size_t bytes) {
  // From pageable memory the runtime stages the source before returning, so the caller may
  // free `src` right away; the copy is ordered before later kernels on the stream.
  if (bytes) NX_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  NX_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  wait_stream();  // the host reads dst next
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  if (bytes) NX_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

// ---- DLPack's stream exchange ----------------------------------------------------------------

uintptr_t stream_handle() { return reinterpret_cast<uintptr_t>(stream()); }

void order_consumer(uintptr_t consumer) {
  cudaStream_t ours = stream();
  if (consumer == reinterpret_cast<uintptr_t>(ours)) return;  // one stream: already in order
#if NX_EMULATED
  // No other stream exists in an emulated process: a handle from a real CUDA library would
  // be a pointer this runtime cannot use.
  NX_CHECK(consumer == 1 || consumer == 2, "__dlpack__: stream ", consumer,
           " is not a stream of the emulated CUDA device (it has the default streams 1 and 2, "
           "and neuraxon's own stream ", reinterpret_cast<uintptr_t>(ours), ")");
  // HIP-CPU runs every stream on one thread, in turn: a stream waiting for another's event
  // can block that thread before it reaches the event (a deadlock). The host waits instead,
  // which orders every later stream use just as well.
  wait_stream();
#else
  // By value, 1 and 2 are cudaStreamLegacy and cudaStreamPerThread: the integer is the handle.
  cudaStream_t s = reinterpret_cast<cudaStream_t>(consumer);
  cudaEvent_t ev;
  NX_CUDA(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(ev, ours);
  if (e == cudaSuccess) e = cudaStreamWaitEvent(s, ev, 0);
  // CUDA keeps a recorded event alive until it completes; the wait is already enqueued.
  cudaEventDestroy(ev);
  NX_CUDA(e);
#endif
}

void wait_stream_quiet() noexcept {
  cudaStream_t s = nullptr;
  try {
    s = stream();
  } catch (...) {
    return;  // no stream, so nothing of ours can be using the memory
  }
  g_host_syncs.fetch_add(1, std::memory_order_relaxed);
  if (cudaStreamSynchronize(s) != cudaSuccess) cudaGetLastError();
}

}  // namespace nx::cuda
