// checks/lstm.h — argument validation of the LSTM kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include "../common.h"

namespace nx {
namespace checks {

inline void lstm_check_weights(const char* K, const View& w_ih, const View& w_hh, const View& b_ih,
                               const View& b_hh, int64_t I, int64_t H) {
  need(w_ih, 4 * H * I, DType::F32, K, "w_ih", shp({4 * H, I}));
  need(w_hh, 4 * H * H, DType::F32, K, "w_hh", shp({4 * H, H}));
  need_opt(b_ih, 4 * H, DType::F32, K, "b_ih", shp({4 * H}));
  need_opt(b_hh, 4 * H, DType::F32, K, "b_hh", shp({4 * H}));
}

inline void lstm_check_sizes(const char* K, int64_t T, int64_t B, int64_t I, int64_t H) {
  need_nonneg(K, {{"T", T}, {"B", B}, {"I", I}, {"H", H}});
  // 64-bit products below must not overflow: every extent fits comfortably under 2^62.
  const double lim = 4.0e18;
  NX_CHECK(double(T) * B * 4 * H < lim && double(T) * B * I < lim && 4.0 * H * (I + H) < lim, K,
           ": sizes T=", T, ", B=", B, ", I=", I, ", H=", H, " are too large");
}

inline void check_lstm_cell_forward(const View& h_out, const View& c_out, const View& gates,
                                    const View& x, const View& h, const View& c, const View& w_ih,
                                    const View& w_hh, const View& b_ih, const View& b_hh, int64_t B,
                                    int64_t I, int64_t H) {
  const char* K = "lstm_cell_forward";
  lstm_check_sizes(K, 1, B, I, H);
  need(h_out, B * H, DType::F32, K, "h_out", shp({B, H}));
  need(c_out, B * H, DType::F32, K, "c_out", shp({B, H}));
  need(gates, B * 4 * H, DType::F32, K, "gates", shp({B, 4 * H}));
  need(x, B * I, DType::F32, K, "x", shp({B, I}));
  need(h, B * H, DType::F32, K, "h", shp({B, H}));
  need(c, B * H, DType::F32, K, "c", shp({B, H}));
  lstm_check_weights(K, w_ih, w_hh, b_ih, b_hh, I, H);
}

inline void check_lstm_cell_backward(const View& dx, const View& dh, const View& dc,
                                     const View& dw_ih, const View& dw_hh, const View& db_ih,
                                     const View& db_hh, const View& dh_out, const View& dc_out,
                                     const View& gates, const View& x, const View& h,
                                     const View& c, const View& c_out, const View& w_ih,
                                     const View& w_hh, int64_t B, int64_t I, int64_t H) {
  const char* K = "lstm_cell_backward";
  lstm_check_sizes(K, 1, B, I, H);
  need_opt(dx, B * I, DType::F32, K, "dx", shp({B, I}));
  need_opt(dh, B * H, DType::F32, K, "dh", shp({B, H}));
  need_opt(dc, B * H, DType::F32, K, "dc", shp({B, H}));
  need_opt(dw_ih, 4 * H * I, DType::F32, K, "dw_ih", shp({4 * H, I}));
  need_opt(dw_hh, 4 * H * H, DType::F32, K, "dw_hh", shp({4 * H, H}));
  need_opt(db_ih, 4 * H, DType::F32, K, "db_ih", shp({4 * H}));
  need_opt(db_hh, 4 * H, DType::F32, K, "db_hh", shp({4 * H}));
  need_opt(dh_out, B * H, DType::F32, K, "dh_out", shp({B, H}));
  need_opt(dc_out, B * H, DType::F32, K, "dc_out", shp({B, H}));
  need(gates, B * 4 * H, DType::F32, K, "gates", shp({B, 4 * H}));
  need(x, B * I, DType::F32, K, "x", shp({B, I}));
  need(h, B * H, DType::F32, K, "h", shp({B, H}));
  need(c, B * H, DType::F32, K, "c", shp({B, H}));
  need(c_out, B * H, DType::F32, K, "c_out", shp({B, H}));
  lstm_check_weights(K, w_ih, w_hh, View{}, View{}, I, H);
}

inline void check_lstm_layer_forward(const View& out, const View& h_n, const View& c_n,
                                     const View& gates, const View& cells, const View& x,
                                     const View& h0, const View& c0, const View& w_ih,
                                     const View& w_hh, const View& b_ih, const View& b_hh,
                                     int64_t T, int64_t B, int64_t I, int64_t H) {
  const char* K = "lstm_layer_forward";
  lstm_check_sizes(K, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;
  need(out, T * BH, DType::F32, K, "out", shp({T, B, H}));
  need(h_n, BH, DType::F32, K, "h_n", shp({B, H}));
  need(c_n, BH, DType::F32, K, "c_n", shp({B, H}));
  need(gates, T * B * G, DType::F32, K, "gates", shp({T, B, G}));
  need(cells, T * BH, DType::F32, K, "cells", shp({T, B, H}));
  need(x, T * B * I, DType::F32, K, "x", shp({T, B, I}));
  need_opt(h0, BH, DType::F32, K, "h0", shp({B, H}));
  need_opt(c0, BH, DType::F32, K, "c0", shp({B, H}));
  lstm_check_weights(K, w_ih, w_hh, b_ih, b_hh, I, H);
}

inline void check_lstm_layer_backward(const View& dx, const View& dh0, const View& dc0,
                                      const View& dw_ih, const View& dw_hh, const View& db_ih,
                                      const View& db_hh, const View& dout, const View& dh_n,
                                      const View& dc_n, const View& gates, const View& cells,
                                      const View& out, const View& x, const View& h0,
                                      const View& c0, const View& w_ih, const View& w_hh,
                                      int64_t T, int64_t B, int64_t I, int64_t H) {
  const char* K = "lstm_layer_backward";
  lstm_check_sizes(K, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;
  need_opt(dx, T * B * I, DType::F32, K, "dx", shp({T, B, I}));
  need_opt(dh0, BH, DType::F32, K, "dh0", shp({B, H}));
  need_opt(dc0, BH, DType::F32, K, "dc0", shp({B, H}));
  need_opt(dw_ih, G * I, DType::F32, K, "dw_ih", shp({G, I}));
  need_opt(dw_hh, G * H, DType::F32, K, "dw_hh", shp({G, H}));
  need_opt(db_ih, G, DType::F32, K, "db_ih", shp({G}));
  need_opt(db_hh, G, DType::F32, K, "db_hh", shp({G}));
  need(dout, T * BH, DType::F32, K, "dout", shp({T, B, H}));
  need_opt(dh_n, BH, DType::F32, K, "dh_n", shp({B, H}));
  need_opt(dc_n, BH, DType::F32, K, "dc_n", shp({B, H}));
  need(gates, T * B * G, DType::F32, K, "gates", shp({T, B, G}));
  need(cells, T * BH, DType::F32, K, "cells", shp({T, B, H}));
  need(out, T * BH, DType::F32, K, "out", shp({T, B, H}));
  need(x, T * B * I, DType::F32, K, "x", shp({T, B, I}));
  need_opt(h0, BH, DType::F32, K, "h0", shp({B, H}));
  need_opt(c0, BH, DType::F32, K, "c0", shp({B, H}));
  lstm_check_weights(K, w_ih, w_hh, View{}, View{}, I, H);
}

}  // namespace checks
}  // namespace nx
