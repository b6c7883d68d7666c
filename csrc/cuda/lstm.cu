// lstm.cu (cuda) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cuda::lstm_cell_forward(View, View, View, View, View, View, View, View, View, View, int64_t, int64_t, int64_t) {
  throw std::runtime_error("lstm_cell_forward is not implemented on cuda yet");
}
void Cuda::lstm_cell_backward(View, View, View, View, View, View, View, View, View, View, View, View, View, View, View, View, int64_t, int64_t, int64_t) {
  throw std::runtime_error("lstm_cell_backward is not implemented on cuda yet");
}
void Cuda::lstm_layer_forward(View, View, View, View, View, View, View, View, View, View, View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("lstm_layer_forward is not implemented on cuda yet");
}
void Cuda::lstm_layer_backward(View, View, View, View, View, View, View, View, View, View, View, View, View, View, View, View, View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("lstm_layer_backward is not implemented on cuda yet");
}
}  // namespace nx
