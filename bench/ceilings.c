/* This machine's two ceilings, the numbers bench/harness.py's "% of peak" divides by
 * (CEILINGS there): the FP32 FMA peak (independent chains of vector FMAs, 8 lanes (AVX2) or
 * 16 lanes (AVX-512)) and the DRAM bandwidth (a triad a = b + s*c over 3 x 256 MiB, counting
 * 12 bytes per element), on 1 and 2 threads; best of 7 trials each. Prints JSON.
 *
 *   gcc -O2 -fopenmp bench/ceilings.c -o /tmp/ceilings && /tmp/ceilings
 *   /tmp/ceilings fma avx2 1      # only that FMA peak, best of 3 short trials (~0.3 s): what
 *                                 # bench/harness.py runs around each benchmark process
 *
 * Each FMA has a latency of ~4 cycles and two issue ports on the cores we run on, so 12
 * independent accumulators keep both ports busy; the loop counter adds one integer op per
 * 12 FMAs. The result is flops = 2 * lanes * 12 * iterations / seconds. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx2,fma"))) static float run_avx2(long iters) {
#define DECL(i) __m256 a##i = _mm256_set1_ps(1.0f + (i) * 1e-3f);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
  CHAINS(DECL)
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long k = 0; k < iters; ++k) { CHAINS(STEP) }
  __m256 s = _mm256_setzero_ps();
  CHAINS(SUM)
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f"))) static float run_avx512(long iters) {
#define DECL(i) __m512 a##i = _mm512_set1_ps(1.0f + (i) * 1e-3f);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
  CHAINS(DECL)
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (long k = 0; k < iters; ++k) { CHAINS(STEP) }
  __m512 s = _mm512_setzero_ps();
  CHAINS(SUM)
  return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef SUM
}

static double measure(int threads, int lanes, int trials, long iters) {
  double best = 0.0;
  volatile float sink = 0.0f;
  for (int trial = 0; trial < trials; ++trial) {
    double t0 = 0.0, t1 = 0.0;
#pragma omp parallel num_threads(threads)
    {
#pragma omp barrier
#pragma omp master
      t0 = now();
      float r = lanes == 16 ? run_avx512(iters) : run_avx2(iters);
#pragma omp atomic
      sink += r;
#pragma omp barrier
#pragma omp master
      t1 = now();
    }
    double gflops = 2.0 * lanes * 12.0 * (double)iters * threads / (t1 - t0) / 1e9;
    if (gflops > best) best = gflops;
  }
  return best;
}

static double triad(int threads) {
  const long n = 256L << 20 >> 2; /* 64 Mi floats = 256 MiB per array */
  float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
  if (!a || !b || !c) return 0.0;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long i = 0; i < n; ++i) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f; /* first touch by the thread that uses it */
  double best = 0.0;
  for (int trial = 0; trial < 7; ++trial) {
    double t0 = now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
    double gbs = 12.0 * n / (now() - t0) / 1e9;
    if (gbs > best) best = gbs;
  }
  volatile float sink = a[n / 3];
  (void)sink;
  free(a), free(b), free(c);
  return best;
}

int main(int argc, char** argv) {
  __builtin_cpu_init();
  int has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const long full = 300000000L; /* iterations of 12 FMAs per trial, ~0.5 s on one core */
  if (argc == 4 && strcmp(argv[1], "fma") == 0) {
    const int lanes = strcmp(argv[2], "avx512") == 0 ? 16 : 8, threads = atoi(argv[3]);
    if ((lanes == 16 ? !has512 : !has2) || threads < 1) return 1;
    printf("%.1f\n", measure(threads, lanes, 3, full / 5 / lanes * 8));
    return 0;
  }
  printf("{\"avx2\": {");
  for (int t = 1; t <= 2; ++t) printf("%s\"%d\": %.1f", t > 1 ? ", " : "", t, has2 ? measure(t, 8, 7, full) : 0.0);
  printf("}, \"avx512\": {");
  for (int t = 1; t <= 2; ++t) printf("%s\"%d\": %.1f", t > 1 ? ", " : "", t, has512 ? measure(t, 16, 7, full / 2) /* the same FMA count per ISA */ : 0.0);
  printf("}, \"triad_gbs\": {");
  for (int t = 1; t <= 2; ++t) printf("%s\"%d\": %.1f", t > 1 ? ", " : "", t, triad(t));
  printf("}}\n");
  return 0;
}
