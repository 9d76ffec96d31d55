/* Dense GEMM GFLOP/s against the measured single-core FMA peak, for `make bench`.
 * The peak is a register-only loop of independent FMAs at the ISA the kernels use; the GEMM
 * shapes are a square one and two convolution-like ones (ResNet-18 layer1 3x3 conv via
 * im2col; a late layer with N = 7x7). Best of repeated runs (a busy machine only adds time). */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEAK_ITERS 500000L

__attribute__((target("avx512f,fma"))) static double peak512(void)
{
    __m512 a[24], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++)
        a[i] = _mm512_set1_ps((float)i);
    double t0 = omp_get_wtime();
    for (long k = 0; k < PEAK_ITERS; k++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    double t = omp_get_wtime() - t0;
    float sink = 0;
    for (int i = 0; i < 24; i++)
        sink += _mm512_reduce_add_ps(a[i]);
    if (sink == 12345.0f)
        puts("");
    return 24.0 * 16 * 2 * PEAK_ITERS / t / 1e9;
}

__attribute__((target("avx2,fma"))) static double peak256(void)
{
    __m256 a[24], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++)
        a[i] = _mm256_set1_ps((float)i);
    double t0 = omp_get_wtime();
    for (long k = 0; k < PEAK_ITERS; k++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    double t = omp_get_wtime() - t0;
    float buf[8], sink = 0;
    for (int i = 0; i < 24; i++) {
        _mm256_storeu_ps(buf, a[i]);
        sink += buf[0];
    }
    if (sink == 12345.0f)
        puts("");
    return 24.0 * 8 * 2 * PEAK_ITERS / t / 1e9;
}

static double gemm_gflops(int M, int N, int K, int reps)
{
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
    float *C = malloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)K * N; i++)
        B[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime();
        sb_sgemm(0, 0, M, N, K, A, K, B, N, C, N, NULL);
        double t = omp_get_wtime() - t0;
        best = t < best ? t : best;
    }
    free(A), free(B), free(C);
    return 2.0 * M * N * K / best / 1e9;
}

int main(void)
{
    omp_set_num_threads(1);
    const char *isa = sb_kernels_isa();
    double peak = 0;
    for (int r = 0; r < 40; r++) {
        double p = strcmp(isa, "avx512") == 0 ? peak512() : strcmp(isa, "avx2") == 0 ? peak256() : 0;
        peak = p > peak ? p : peak;
    }
    static const int shapes[][3] = {{512, 512, 512}, {64, 3136, 576}, {512, 49, 4608}};
    printf("dense GEMM, 1 thread, %s: measured FMA peak %.1f GFLOP/s\n", isa, peak);
    for (int i = 0; i < 3; i++) {
        double g = gemm_gflops(shapes[i][0], shapes[i][1], shapes[i][2], 20);
        printf("  sgemm M=%d N=%d K=%d: %.1f GFLOP/s (%.0f%% of peak)\n", shapes[i][0],
               shapes[i][1], shapes[i][2], g, peak > 0 ? 100 * g / peak : 0);
    }
    return 0;
}
