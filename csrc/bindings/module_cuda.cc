// module_cuda.cc — neuraxon._cuda: every kernel of kernel_api.inc for CUDA, the
// DeviceArray that CUDA tensors keep their data in, device/memory queries, and the
// OutOfMemoryError exception (a RuntimeError subclass; neuraxon.cuda re-exports it).
// DeviceArray memory comes from the caching allocator (csrc/cuda/allocator.cu); copies run
// on the backend's one stream, and to_host waits for it (the only routine host wait).
// It imports on a machine with no driver (cudart is linked statically); device_count()
// is then 0 and unavailable_reason() says why.
#define NX_BACKEND_CUDA 1
#include "bind_kernels.h"
#include "../cuda/backend.h"

namespace py = pybind11;

namespace {

size_t itemsize(nx::DType d) { return d == nx::DType::F32 ? 4 : d == nx::DType::I64 ? 8 : 1; }

nx::DType dtype_of(const py::array& a) {
  char kind = a.dtype().kind();
  if (kind == 'f' && a.itemsize() == 4) return nx::DType::F32;
  if (kind == 'i' && a.itemsize() == 8) return nx::DType::I64;
  if (kind == 'b' && a.itemsize() == 1) return nx::DType::U8;
  throw nx::TypeError("DeviceArray: host array must be float32, int64 or bool");
}

// A flat, contiguous block of device memory holding numel elements of one dtype.
struct DeviceArray {
  void* ptr = nullptr;
  int64_t numel = 0;
  nx::DType dtype = nx::DType::F32;

  DeviceArray(int64_t n, int dt) {
    NX_CHECK(n >= 0, "DeviceArray: numel must be >= 0, got ", n);
    NX_CHECK(dt >= 0 && dt <= 2, "DeviceArray: bad dtype code ", dt);
    numel = n;
    dtype = static_cast<nx::DType>(dt);
    ptr = nx::cuda::alloc(size_t(n) * itemsize(dtype));
  }
  ~DeviceArray() { nx::cuda::free(ptr, size_t(numel) * itemsize(dtype)); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  size_t nbytes() const { return size_t(numel) * itemsize(dtype); }
};

}  // namespace

// The emulated build (HIP-CPU) compiles this file again as neuraxon._cuda_emu.
#ifndef NX_CUDA_MODULE
#define NX_CUDA_MODULE _cuda
#endif

PYBIND11_MODULE(NX_CUDA_MODULE, m) {
  m.doc() = "neuraxon CUDA kernels";
  nx::bind_kernels<nx::Cuda>(m);
  // RuntimeError base: `except RuntimeError` still catches it. Module-local (tried first, for
  // this module's functions only): with both _cuda and _cuda_emu imported, each raises its
  // own class (the C++ type has one name in both, so a global translator registered by one
  // module would turn the other's errors into its own class).
  py::register_local_exception<nx::cuda::OutOfMemoryError>(m, "OutOfMemoryError", PyExc_RuntimeError);

  py::class_<DeviceArray>(m, "DeviceArray")
      .def(py::init<int64_t, int>(), py::arg("numel"), py::arg("dtype"))
      .def_readonly("numel", &DeviceArray::numel)
      .def_property_readonly("dtype", [](const DeviceArray& a) { return int(a.dtype); })
      .def_property_readonly("_nx_view", [](const DeviceArray& a) {
        return py::make_tuple(reinterpret_cast<uintptr_t>(a.ptr), a.numel, int(a.dtype), true);
      })
      .def_property_readonly("nbytes", &DeviceArray::nbytes)
      .def("copy_from_host", [](DeviceArray& a, py::array host) {
        if (dtype_of(host) != a.dtype)
          throw nx::TypeError(nx::cat("copy_from_host: host dtype ", nx::dtype_name(dtype_of(host)),
                                      " != device dtype ", nx::dtype_name(a.dtype)));
        NX_CHECK(int64_t(host.size()) == a.numel, "copy_from_host: host array has ", host.size(),
                 " elements, device array ", a.numel);
        py::array c = py::array::ensure(host, py::array::c_style);
        nx::cuda::copy_to_device(a.ptr, c.data(), a.nbytes());
      })
      .def("to_host", [](const DeviceArray& a) -> py::array {
        // A fresh NumPy array of the same dtype; the copy waits for the stream (the host
        // reads), with the GIL released meanwhile.
        py::array out;
        if (a.dtype == nx::DType::F32) out = py::array_t<float>(a.numel);
        else if (a.dtype == nx::DType::I64) out = py::array_t<int64_t>(a.numel);
        else out = py::array_t<bool>(a.numel);
        if (a.nbytes() > 0) {
          void* dst = out.mutable_data();
          py::gil_scoped_release nogil;
          nx::cuda::copy_to_host(dst, a.ptr, a.nbytes());
        }
        return out;
      });

  m.def("device_count", &nx::cuda::device_count);
  m.def("unavailable_reason", &nx::cuda::unavailable_reason);
  m.def("device_name", &nx::cuda::device_name);
  m.def("runtime_version", &nx::cuda::runtime_version);
  m.def("clock_khz", &nx::cuda::clock_khz, py::arg("index") = 0,
        "Peak multiprocessor clock in kHz (cudaDeviceGetAttribute; CUDA 13 dropped the "
        "properties' clockRate).");
  m.def("synchronize", &nx::cuda::synchronize, py::call_guard<py::gil_scoped_release>());
  m.def("host_sync_count", &nx::cuda::host_sync_count,
        "How many times the host has waited for the stream so far (reads, synchronize, index "
        "checks).");
  m.def("set_launch_log", &nx::cuda::set_launch_log, py::arg("on"), py::arg("dry") = false,
        "Start (True; clears it) or stop recording every kernel launch; dry (emulated device "
        "only) records launches without running them.");
  m.def(
      "take_launch_log",
      [] {
        py::list out;
        for (const auto& r : nx::cuda::take_launch_log())
          out.append(py::make_tuple(r.kernel, py::make_tuple(r.grid_x, r.grid_y, r.grid_z), r.threads));
        return out;
      },
      "The launches recorded so far as (kernel, (grid x, y, z), threads per block); empties the log.");
#ifdef NX_CUDA_EMU
  m.attr("emulated") = true;
#else
  m.attr("emulated") = false;
#endif
  m.def("memory_allocated", &nx::cuda::memory_allocated);
  m.def("max_memory_allocated", &nx::cuda::max_memory_allocated);
  m.def("memory_cached", &nx::cuda::memory_cached);
  m.def("memory_reserved", &nx::cuda::memory_cached);
  m.def("reset_peak_memory_stats", &nx::cuda::reset_peak_memory_stats);
  m.def("round_size", &nx::cuda::round_size, py::arg("bytes"));
  m.def("empty_cache", &nx::cuda::empty_cache, py::call_guard<py::gil_scoped_release>());
#ifdef NX_CUDA_ARCHS
  m.attr("archs") = NX_CUDA_ARCHS;
#else
  m.attr("archs") = "";
#endif
}
