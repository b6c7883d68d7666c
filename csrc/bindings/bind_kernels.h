// bind_kernels.h — one binding template for any backend.
//
// Included once by module_cpu.cc (NX_BACKEND_CUDA 0) and once by module_cuda.cc
// (NX_BACKEND_CUDA 1). It teaches pybind11 to turn an array argument into an nx::View and
// registers every prototype of kernel_api.inc for the backend struct B, releasing the GIL
// around each kernel.
//
// What becomes a View:
//   None                        -> absent (data == nullptr)
//   numpy.ndarray (CPU module)  -> host memory; float32, int64 or bool; C-contiguous, writeable
//   object with ._nx_view       -> device memory (CUDA module): a tuple (ptr, numel, dtype)
// Anything else, a wrong dtype or a device that is not this module's raises TypeError;
// a non-contiguous array raises ValueError.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "../common.h"

#ifndef NX_BACKEND_CUDA
#error "define NX_BACKEND_CUDA before including bind_kernels.h"
#endif

namespace pybind11::detail {
template <>
struct type_caster<nx::View> {
  PYBIND11_TYPE_CASTER(nx::View, const_name("array"));

  bool load(handle src, bool) {
    value = nx::View{};
    if (src.is_none()) return true;
    const char* here = NX_BACKEND_CUDA ? "cuda" : "cpu";
    if (array::check_(src)) {
      if (NX_BACKEND_CUDA)
        throw nx::TypeError("expected a cuda array, got a cpu (numpy) array: tensors are on "
                            "different devices");
      auto arr = reinterpret_borrow<array>(src);
      if (!(arr.flags() & array::c_style))
        throw std::invalid_argument("kernel arguments must be C-contiguous arrays");
      // Kernels write their outputs through this pointer, and the binding cannot tell an
      // output from an input: a read-only array (np.frombuffer of bytes, a read-only memory
      // map) is refused rather than written into. neuraxon's tensors never hold one (from_numpy
      // copies such arrays).
      if (!arr.writeable())
        throw std::invalid_argument("kernel arguments must be writeable arrays (got a read-only NumPy array)");
      char kind = arr.dtype().kind();
      auto size = arr.itemsize();
      if (kind == 'f' && size == 4) value.dtype = nx::DType::F32;
      else if (kind == 'i' && size == 8) value.dtype = nx::DType::I64;
      else if (kind == 'b' && size == 1) value.dtype = nx::DType::U8;
      else
        throw nx::TypeError(nx::cat("unsupported array dtype '", std::string(str(arr.dtype())),
                                    "': kernels take float32, int64 or bool"));
      value.data = const_cast<void*>(arr.data());
      value.numel = static_cast<int64_t>(arr.size());
      value.on_cuda = false;
      return true;
    }
    if (hasattr(src, "_nx_view")) {
      auto t = src.attr("_nx_view").cast<tuple>();
      bool is_cuda = t[3].cast<bool>();
      if (is_cuda != bool(NX_BACKEND_CUDA))
        throw nx::TypeError(nx::cat("expected a ", here, " array, got a ",
                                    is_cuda ? "cuda" : "cpu",
                                    " array: tensors are on different devices"));
      value.data = reinterpret_cast<void*>(t[0].cast<uintptr_t>());
      value.numel = t[1].cast<int64_t>();
      value.dtype = static_cast<nx::DType>(t[2].cast<int>());
      value.on_cuda = is_cuda;
      return true;
    }
    throw nx::TypeError(nx::cat("kernel argument must be an array or None, got ",
                                std::string(str(type::handle_of(src)))));
  }

  static handle cast(const nx::View&, return_value_policy, handle) {
    throw std::runtime_error("nx::View is an argument type only");
  }
};
}  // namespace pybind11::detail

namespace nx {

template <class B>
void bind_kernels(pybind11::module_& m) {
  namespace py = pybind11;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const nx::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  py::list names;
#define NX_KERNEL(name, params)                                             \
  m.def(#name, &B::name, py::call_guard<py::gil_scoped_release>());         \
  names.append(#name);
#include "../kernel_api.inc"
#undef NX_KERNEL
  m.attr("KERNELS") = py::tuple(names);
}

}  // namespace nx
