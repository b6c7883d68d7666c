// module_cuda.cc — neuraxon._cuda: every kernel of kernel_api.inc for CUDA, the
// DeviceArray that CUDA tensors keep their data in, device/memory queries, and the
// OutOfMemoryError exception (a RuntimeError subclass; neuraxon.cuda re-exports it).
// DeviceArray memory comes from the caching allocator (csrc/cuda/allocator.cu); copies run
// on the backend's one stream, and to_host waits for it (the only routine host wait).
// It imports on a machine with no driver (cudart is linked statically); device_count()
// is then 0 and unavailable_reason() says why.
//
// DLPack (dlpack_export / dlpack_import, behind Tensor.__dlpack__ and neuraxon.from_dlpack):
// zero copy both ways. An exported capsule describes a DeviceArray's memory (C-contiguous,
// device {kDLCUDA, 0}) and holds a reference to it until the consumer calls the deleter; an
// imported capsule's memory becomes a borrowing DeviceArray that calls the producer's deleter
// when its last reference goes (after our stream is done with it). Streams: before a pointer
// goes out, the consumer's stream is made to wait for ours (buffer.cu's order_consumer).
#define NX_BACKEND_CUDA 1
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>

#include "bind_kernels.h"
#include "dlpack.h"
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

// A flat, contiguous block of device memory holding numel elements of one dtype: from the
// caching allocator, or borrowed from another library through DLPack (`release` set: it
// hands the memory back, through the producer's deleter, when the last reference goes).
struct DeviceArray {
  void* ptr = nullptr;
  int64_t numel = 0;
  nx::DType dtype = nx::DType::F32;
  std::function<void()> release;  // borrowed memory only

  DeviceArray(int64_t n, int dt) {
    NX_CHECK(n >= 0, "DeviceArray: numel must be >= 0, got ", n);
    NX_CHECK(dt >= 0 && dt <= 2, "DeviceArray: bad dtype code ", dt);
    numel = n;
    dtype = static_cast<nx::DType>(dt);
    ptr = nx::cuda::alloc(size_t(n) * itemsize(dtype));
  }
  DeviceArray(void* p, int64_t n, nx::DType dt, std::function<void()> rel)
      : ptr(p), numel(n), dtype(dt), release(std::move(rel)) {}
  ~DeviceArray() {
    if (!release) {
      nx::cuda::free(ptr, nbytes());
      return;
    }
    // Kernels of ours may still read or write it, and its producer may reuse the memory as
    // soon as it is handed back (a host wait; the GIL stays held, as in every destructor).
    nx::cuda::wait_stream_quiet();
    release();
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  size_t nbytes() const { return size_t(numel) * itemsize(dtype); }
};

// ---- DLPack ----------------------------------------------------------------------------------
namespace dl = nx::dlpack;

template <class M>
struct Capsule;  // the capsule names of each managed-tensor kind
template <>
struct Capsule<dl::DLManagedTensor> {
  static constexpr const char* fresh = "dltensor";
  static constexpr const char* used = "used_dltensor";
};
template <>
struct Capsule<dl::DLManagedTensorVersioned> {
  static constexpr const char* fresh = "dltensor_versioned";
  static constexpr const char* used = "used_dltensor_versioned";
};

// What an exported capsule owns: the managed tensor, its shape and strides, and a strong
// reference to the DeviceArray (a Python object) whose memory it describes.
template <class M>
struct Export {
  M managed{};
  std::vector<int64_t> shape, strides;
  PyObject* owner = nullptr;
};

bool interpreter_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// The deleter a consumer calls when it is done, from any thread, with or without the GIL:
// drops the capsule's reference to the DeviceArray (freeing it if it was the last one).
template <class M>
void export_deleter(M* self) {
  auto* ex = static_cast<Export<M>*>(self->manager_ctx);
  if (interpreter_alive()) {
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XDECREF(ex->owner);
    PyGILState_Release(g);
  }  // else the interpreter is gone (a consumer let go at exit): so is the array
  delete ex;
}

// A capsule collected while still unconsumed owns its tensor: it calls the deleter. A consumed
// one was renamed "used_..." by its consumer, which calls the deleter itself.
template <class M>
void capsule_destructor(PyObject* cap) {
  if (!PyCapsule_IsValid(cap, Capsule<M>::fresh)) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  auto* m = static_cast<M*>(PyCapsule_GetPointer(cap, Capsule<M>::fresh));
  if (m && m->deleter) m->deleter(m);
  PyErr_Restore(type, value, tb);
}

dl::DLDataType dl_dtype(nx::DType d) {
  if (d == nx::DType::F32) return {dl::kDLFloat, 32, 1};
  if (d == nx::DType::I64) return {dl::kDLInt, 64, 1};
  return {dl::kDLBool, 8, 1};
}

// The DLPack `stream` argument of __dlpack__: None means the legacy default stream (1), -1 no
// ordering at all; otherwise the consumer's stream waits for ours (order_consumer).
void order_for_consumer(py::handle stream) {
  int64_t s = 1;
  if (!stream.is_none()) {
    if (!PyLong_Check(stream.ptr()) || PyBool_Check(stream.ptr()))
      throw nx::TypeError(nx::cat("__dlpack__: stream must be an int or None, got ",
                                  std::string(py::str(py::type::handle_of(stream)))));
    s = stream.cast<int64_t>();
  }
  if (s == -1) return;
  NX_CHECK(s != 0, "__dlpack__: stream 0 is ambiguous on CUDA (the array API disallows it): pass "
                   "1 for the legacy default stream, 2 for the per-thread default stream, a "
                   "cudaStream_t, or -1 for no synchronization");
  NX_CHECK(s > 0, "__dlpack__: stream must be None, -1, 1, 2 or a cudaStream_t, got ", s);
  nx::cuda::order_consumer(uintptr_t(s));
}

template <class M>
py::capsule make_capsule(py::object owner, const std::vector<int64_t>& shape, bool copied) {
  const DeviceArray& a = owner.cast<const DeviceArray&>();
  auto ex = std::make_unique<Export<M>>();
  ex->shape = shape;
  ex->shape.reserve(1);  // never a null pointer, even for 0-d tensors
  // Explicit C-order strides (in elements) rather than NULL: DLPack >= 1.0 asks for them, and
  // every consumer reads them (a size-0 or size-1 dimension gets the stride it would have).
  ex->strides.assign(shape.size(), 1);
  ex->strides.reserve(1);
  for (size_t i = shape.size(); i-- > 1;) ex->strides[i - 1] = ex->strides[i] * std::max<int64_t>(shape[i], 1);
  dl::DLTensor& t = ex->managed.dl_tensor;
  t.data = a.numel ? a.ptr : nullptr;
  t.device = {dl::kDLCUDA, 0};
  t.ndim = int32_t(shape.size());
  t.dtype = dl_dtype(a.dtype);
  t.shape = ex->shape.data();
  t.strides = ex->strides.data();
  t.byte_offset = 0;
  ex->managed.manager_ctx = ex.get();
  ex->managed.deleter = &export_deleter<M>;
  if constexpr (std::is_same_v<M, dl::DLManagedTensorVersioned>) {
    ex->managed.version = {dl::kMajor, dl::kMinor};
    ex->managed.flags = copied ? dl::kFlagIsCopied : 0;
  }
  ex->owner = owner.release().ptr();  // the capsule's reference, dropped by the deleter
  M* m = &ex.release()->managed;
  PyObject* cap = PyCapsule_New(m, Capsule<M>::fresh, &capsule_destructor<M>);
  if (!cap) {
    m->deleter(m);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

// Tensor.__dlpack__ on CUDA: a capsule over `array` (a DeviceArray) viewed as `shape`, or over
// a fresh device copy of it (copy=True). The consumer's `stream` is ordered first.
py::capsule dlpack_export(py::object array, const std::vector<int64_t>& shape, py::handle stream,
                          bool versioned, bool copy) {
  const DeviceArray& a = array.cast<const DeviceArray&>();
  int64_t n = 1;
  for (int64_t d : shape) {
    NX_CHECK(d >= 0, "__dlpack__: negative dimension in shape");
    n *= d;
  }
  NX_CHECK(n == a.numel, "__dlpack__: shape of ", n, " elements for an array of ", a.numel);
  py::object owner = array;
  if (copy) {
    auto c = std::make_unique<DeviceArray>(a.numel, int(a.dtype));
    nx::cuda::copy_on_device(c->ptr, a.ptr, a.nbytes());
    owner = py::cast(std::move(c));
  }
  order_for_consumer(stream);
  return versioned ? make_capsule<dl::DLManagedTensorVersioned>(owner, shape, copy)
                   : make_capsule<dl::DLManagedTensor>(owner, shape, copy);
}

#ifdef NX_CUDA_EMU
// Tests only: let the emulated device import kDLCUDA capsules that neuraxon did not make
// (there "device" memory is host memory; such capsules come from a test's ctypes producer).
bool g_emu_trust_foreign = false;
#endif

// An unconsumed capsule's managed tensor, whichever its kind.
struct Incoming {
  PyObject* cap = nullptr;
  const char* used = nullptr;  // the name that marks it consumed
  dl::DLTensor* t = nullptr;
  uint64_t flags = 0;
  bool ours = false;  // made by this module's dlpack_export
  std::function<void()> release;  // calls the producer's deleter
};

// The fields every managed-tensor kind gives an Incoming.
template <class M>
Incoming& take_managed(Incoming& in, M* m) {
  in.used = Capsule<M>::used;
  in.t = &m->dl_tensor;
  in.ours = m->deleter == &export_deleter<M>;
  in.release = [m] { if (m->deleter) m->deleter(m); };
  return in;
}

Incoming open_capsule(py::handle obj, const char* who) {
  Incoming in;
  in.cap = obj.ptr();
  if (PyCapsule_IsValid(in.cap, "dltensor"))
    return take_managed(in, static_cast<dl::DLManagedTensor*>(PyCapsule_GetPointer(in.cap, "dltensor")));
  if (PyCapsule_IsValid(in.cap, "dltensor_versioned")) {
    auto* m = static_cast<dl::DLManagedTensorVersioned*>(PyCapsule_GetPointer(in.cap, "dltensor_versioned"));
    // Another major version changes the layout past `flags`: nothing else may be read. The
    // capsule stays unconsumed, so its destructor calls the deleter, as DLPack asks.
    if (m->version.major != dl::kMajor)
      throw py::buffer_error(nx::cat(who, ": the producer's DLPack version ", m->version.major, ".",
                                     m->version.minor, " is not 1.x (neuraxon reads DLPack 1.x)"));
    in.flags = m->flags;
    return take_managed(in, m);
  }
  if (PyCapsule_IsValid(in.cap, "used_dltensor") || PyCapsule_IsValid(in.cap, "used_dltensor_versioned"))
    throw py::buffer_error(nx::cat(who, ": this DLPack capsule was already consumed (a capsule can "
                                        "be imported once: ask the producer's __dlpack__ for another)"));
  throw nx::TypeError(nx::cat(who, ": expected a DLPack capsule ('dltensor' or 'dltensor_versioned'), got ",
                              std::string(py::str(py::repr(obj)))));
}

std::string dl_dtype_name(dl::DLDataType d) {
  std::string base;
  switch (d.code) {
    case dl::kDLInt: base = "int"; break;
    case dl::kDLUInt: base = "uint"; break;
    case dl::kDLFloat: base = "float"; break;
    case dl::kDLBfloat: base = "bfloat"; break;
    case dl::kDLComplex: base = "complex"; break;
    case dl::kDLBool: base = "bool"; break;
    default: base = nx::cat("type", int(d.code), "_");
  }
  std::string s = d.code == dl::kDLBool && d.bits == 8 ? base : nx::cat(base, int(d.bits));
  return d.lanes == 1 ? s : nx::cat(s, "x", d.lanes);
}

// The NumPy dtype a copy of this DLPack dtype is read through ("" when NumPy has none).
std::string numpy_name(dl::DLDataType d) {
  if (d.lanes != 1) return "";
  const int b = d.bits;
  switch (d.code) {
    case dl::kDLFloat: return b == 16 || b == 32 || b == 64 ? nx::cat("float", b) : "";
    case dl::kDLInt: return b == 8 || b == 16 || b == 32 || b == 64 ? nx::cat("int", b) : "";
    case dl::kDLUInt: return b == 8 || b == 16 || b == 32 || b == 64 ? nx::cat("uint", b) : "";
    case dl::kDLBool: return b == 8 ? "bool" : "";
    case dl::kDLComplex: return b == 64 || b == 128 ? nx::cat("complex", b) : "";
    default: return "";
  }
}

std::optional<nx::DType> our_dtype(dl::DLDataType d) {
  if (d.lanes != 1) return std::nullopt;
  if (d.code == dl::kDLFloat && d.bits == 32) return nx::DType::F32;
  if (d.code == dl::kDLInt && d.bits == 64) return nx::DType::I64;
  if (d.code == dl::kDLBool && d.bits == 8) return nx::DType::U8;
  return std::nullopt;
}

std::string shape_text(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += nx::cat(i ? ", " : "", v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

py::tuple dlpack_capsule_device(py::handle obj) {
  Incoming in = open_capsule(obj, "from_dlpack");
  return py::make_tuple(in.t->device.device_type, in.t->device.device_id);
}

// neuraxon.from_dlpack of a CUDA capsule. Returns (array, shape, dtype code): a DeviceArray
// borrowing the producer's memory when it can be shared (float32/int64/bool, C-contiguous,
// aligned, writeable) and copy is not True; a DeviceArray copy when only copy=True or the
// read-only flag stand in the way; otherwise a host NumPy array copy (dtype code None) for
// Python to convert as tensor() converts data. copy=False where sharing is impossible raises
// BufferError and leaves the capsule unconsumed (its destructor then calls the deleter).
py::tuple dlpack_import(py::handle obj, py::object copy_arg) {
  const char* who = "from_dlpack";
  Incoming in = open_capsule(obj, who);
  const dl::DLTensor& t = *in.t;
  std::vector<int64_t> shape(t.shape, t.shape + std::max(t.ndim, 0));
  const std::string dname = dl_dtype_name(t.dtype);
  const std::string what = nx::cat("a ", dname, " tensor of shape ", shape_text(shape), " on CUDA device ",
                                   t.device.device_id);
  if (t.device.device_type != dl::kDLCUDA)
    throw py::buffer_error(nx::cat(who, ": the capsule's memory is not on a CUDA device (DLPack device type ",
                                   t.device.device_type, ")"));
  if (t.device.device_id != 0)
    throw std::invalid_argument(nx::cat(who, ": ", what, ": neuraxon uses one CUDA device (index 0)"));
#ifdef NX_CUDA_EMU
  if (!in.ours && !g_emu_trust_foreign)
    throw py::buffer_error(nx::cat(who, ": ", what, " comes from another library; the emulated CUDA device "
                                   "(NEURAXON_USE_CUDA_EMU=1) imports only neuraxon's own CUDA tensors (other "
                                   "libraries' CUDA memory is on a real GPU, which it cannot reach)"));
#endif
  NX_CHECK(t.ndim >= 0, who, ": negative ndim ", t.ndim);
  int64_t numel = 1;
  for (int64_t d : shape) {
    NX_CHECK(d >= 0, who, ": ", what, " has a negative dimension");
    NX_CHECK(d == 0 || numel <= INT64_MAX / d, who, ": ", what, " has too many elements");
    numel *= d;
  }
  // C-contiguous: strides NULL, or each (of a dimension longer than 1) the product of the
  // later dimensions; nothing to check without elements.
  bool contiguous = true;
  if (t.strides && numel > 0) {
    int64_t expect = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && t.strides[i] != expect) contiguous = false;
      expect *= shape[i];
    }
  }
  char* base = static_cast<char*>(t.data) + t.byte_offset;
  const std::optional<nx::DType> dt = our_dtype(t.dtype);
  const bool aligned = numel == 0 || (dt && reinterpret_cast<uintptr_t>(base) % itemsize(*dt) == 0);
  const bool writeable = !(in.flags & dl::kFlagReadOnly);
  const int copy = copy_arg.is_none() ? -1 : int(copy_arg.cast<bool>());  // -1: None (only if needed)
  const bool shareable = dt && contiguous && aligned && writeable;
  if (!shareable && copy == 0) {
    std::string why = !dt ? nx::cat("neuraxon has no ", dname)
                    : !contiguous ? nx::cat("it is not C-contiguous: strides ",
                                            shape_text(std::vector<int64_t>(t.strides, t.strides + t.ndim)))
                    : !aligned ? nx::cat("its data pointer is not aligned to ", itemsize(*dt), " bytes")
                    : "it is read-only";
    throw py::buffer_error(nx::cat(who, "(copy=False): ", what, " cannot be shared (", why, ")"));
  }
  const std::string np_name = numpy_name(t.dtype);
  if (!shareable && !dt && np_name.empty())
    throw py::buffer_error(nx::cat(who, ": ", what, ": neuraxon cannot read ", dname,
                                   " (it stores float32, int64 and bool, and converts NumPy's other types)"));

  // From here on the capsule is ours: rename it, and hand the memory back when done with it.
  if (PyCapsule_SetName(in.cap, in.used) != 0) throw py::error_already_set();
  if (shareable && copy != 1) {
    auto arr = std::make_unique<DeviceArray>(numel ? base : nullptr, numel, *dt, std::move(in.release));
    return py::make_tuple(py::cast(std::move(arr)), py::tuple(py::cast(shape)), int(*dt));
  }
  // A copy: the borrowed memory goes back once our stream has read it (the holder's wait).
  DeviceArray holder(base, numel, dt.value_or(nx::DType::U8), std::move(in.release));
  if (dt && contiguous && aligned) {  // only copy=True or the read-only flag: copy on the device
    auto arr = std::make_unique<DeviceArray>(numel, int(*dt));
    nx::cuda::copy_on_device(arr->ptr, base, arr->nbytes());
    return py::make_tuple(py::cast(std::move(arr)), py::tuple(py::cast(shape)), int(*dt));
  }
  // Another dtype, strides or alignment: the elements' span comes to the host, where NumPy
  // reads it through the producer's strides (in elements; NULL = C order).
  py::dtype npdt(np_name);
  const int64_t item = npdt.itemsize();
  std::vector<int64_t> strides(shape.size());
  for (int i = t.ndim - 1, s = 1; i >= 0; --i) {
    strides[i] = t.strides ? t.strides[i] : s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  int64_t lo = 0, hi = 0;  // the first and last element reached, relative to base
  for (size_t i = 0; i < shape.size() && numel; ++i) {
    const int64_t reach = (shape[i] - 1) * strides[i];
    (reach < 0 ? lo : hi) += reach;
  }
  const int64_t span = numel ? (hi - lo + 1) * item : 0;
  py::array_t<uint8_t> buf(std::max<int64_t>(span, 1));
  if (span) {
    uint8_t* dst = buf.mutable_data();
    py::gil_scoped_release nogil;
    nx::cuda::copy_to_host(dst, base + lo * item, size_t(span));
  }
  std::vector<int64_t> byte_strides(strides);
  for (auto& s : byte_strides) s *= item;
  py::array view(npdt, shape, byte_strides, buf.mutable_data() - lo * item, buf);
  return py::make_tuple(view, py::tuple(py::cast(shape)), py::none());
}

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
      .def_property_readonly("borrowed", [](const DeviceArray& a) { return bool(a.release); },
                             "True for memory imported through DLPack (another owner's, not the allocator's).")
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
  m.def("stream_handle", &nx::cuda::stream_handle,
        "neuraxon's CUDA stream as the integer DLPack passes for a stream (a cudaStream_t).");
  m.def("dlpack_export", &dlpack_export, py::arg("array"), py::arg("shape"), py::arg("stream"),
        py::arg("versioned"), py::arg("copy"),
        "A DLPack capsule ('dltensor_versioned' if versioned, else 'dltensor') over a DeviceArray "
        "viewed as shape (or over a copy); the consumer's stream waits for ours first.");
  m.def("dlpack_import", &dlpack_import, py::arg("capsule"), py::arg("copy") = py::none(),
        "Consumes a CUDA DLPack capsule: (DeviceArray sharing the memory, shape, dtype code), a "
        "DeviceArray copy, or (host ndarray copy, shape, None) for other dtypes and strides.");
  m.def("dlpack_capsule_device", &dlpack_capsule_device, py::arg("capsule"),
        "(DLPack device type, index) of an unconsumed DLPack capsule, without consuming it.");
#ifdef NX_CUDA_EMU
  m.def("_dlpack_trust_foreign", [](bool on) { g_emu_trust_foreign = on; }, py::arg("on"),
        "Tests only: import kDLCUDA capsules of other producers (host memory on this build).");
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
