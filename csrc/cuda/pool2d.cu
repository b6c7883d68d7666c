// pool2d.cu (cuda) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cuda::maxpool2d_forward(View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool) {
  throw std::runtime_error("maxpool2d_forward is not implemented on cuda yet");
}
void Cuda::maxpool2d_backward(View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("maxpool2d_backward is not implemented on cuda yet");
}
void Cuda::avgpool2d_forward(View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t) {
  throw std::runtime_error("avgpool2d_forward is not implemented on cuda yet");
}
void Cuda::avgpool2d_backward(View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t) {
  throw std::runtime_error("avgpool2d_backward is not implemented on cuda yet");
}
void Cuda::adaptive_avgpool2d_forward(View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("adaptive_avgpool2d_forward is not implemented on cuda yet");
}
void Cuda::adaptive_avgpool2d_backward(View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("adaptive_avgpool2d_backward is not implemented on cuda yet");
}
void Cuda::maxunpool2d_forward(View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("maxunpool2d_forward is not implemented on cuda yet");
}
void Cuda::maxunpool2d_backward(View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("maxunpool2d_backward is not implemented on cuda yet");
}
}  // namespace nx
