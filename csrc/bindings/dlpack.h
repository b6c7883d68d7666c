// dlpack.h — the DLPack ABI neuraxon exchanges CUDA tensors through (module_cuda.cc), written
// from the DLPack specification (dmlc/dlpack, include/dlpack/dlpack.h, v1.1) rather than
// vendored: only what neuraxon produces and consumes. The layouts are the C ABI of that
// header and must stay byte-for-byte identical to it (static_asserts below pin the sizes
// and offsets on LP64).
//
// Two capsule kinds carry a tensor between Python libraries (the array-API __dlpack__):
//   "dltensor"            a DLManagedTensor           (legacy, before DLPack 1.0)
//   "dltensor_versioned"  a DLManagedTensorVersioned  (DLPack >= 1.0; asked for by passing
//                                                      max_version >= (1, 0))
// The consumer renames a capsule it took ownership of to "used_dltensor" /
// "used_dltensor_versioned" and calls the deleter when it is done; a capsule that is
// collected unconsumed calls the deleter from its own destructor.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nx::dlpack {

// Device types (DLDeviceType): the ones neuraxon names in messages.
enum : int32_t {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,
  kDLROCM = 10,
  kDLCUDAManaged = 13,
};

// Type codes (DLDataTypeCode).
enum : uint8_t {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLOpaqueHandle = 3,
  kDLBfloat = 4,
  kDLComplex = 5,
  kDLBool = 6,
};

// DLManagedTensorVersioned::flags bits.
constexpr uint64_t kFlagReadOnly = 1ull << 0;  // the consumer must not write
constexpr uint64_t kFlagIsCopied = 1ull << 1;  // the producer made a copy for this consumer

// The DLPack version neuraxon's versioned capsules declare: 1.0 describes everything it
// exports (float32, int64, bool on one CUDA device); later minors only add enum values.
constexpr uint32_t kMajor = 1, kMinor = 0;

extern "C" {

struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};

struct DLDevice {
  int32_t device_type;  // DLDeviceType (an int32_t enum in the C++ declaration of the spec)
  int32_t device_id;
};

struct DLDataType {
  uint8_t code;    // DLDataTypeCode
  uint8_t bits;    // bits per lane: 32 for float32, 64 for int64, 8 for bool
  uint16_t lanes;  // 1 for scalars
};

struct DLTensor {
  void* data;            // device pointer (may be NULL when the tensor has no elements)
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;        // ndim entries
  int64_t* strides;      // ndim entries, in elements; NULL means C-contiguous
  uint64_t byte_offset;  // the first element is at (char*)data + byte_offset
};

struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);  // frees manager_ctx and self; may be NULL
};

struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};

}  // extern "C"

static_assert(sizeof(DLDevice) == 8 && sizeof(DLDataType) == 4, "DLPack ABI");
static_assert(sizeof(void*) != 8 || (sizeof(DLTensor) == 48 && offsetof(DLTensor, shape) == 24 &&
                                     offsetof(DLTensor, byte_offset) == 40),
              "DLPack ABI: DLTensor layout");
static_assert(sizeof(void*) != 8 || (offsetof(DLManagedTensor, deleter) == 56 &&
                                     offsetof(DLManagedTensorVersioned, flags) == 24 &&
                                     offsetof(DLManagedTensorVersioned, dl_tensor) == 32),
              "DLPack ABI: managed tensor layout");

}  // namespace nx::dlpack
