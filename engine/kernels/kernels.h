/* Compute kernels: dense f32 GEMM and convolution. Pure functions of their arguments; OpenMP
 * inside. Determinism contract: the floating-point summation order of every output element
 * depends only on the problem shape (M, N, K / conv geometry), never on the thread count, the
 * batch size or whether the caller is already inside an OpenMP parallel region. */
#ifndef SB_KERNELS_H
#define SB_KERNELS_H

#include <stddef.h>

typedef enum {
    SB_ACT_NONE = 0,
    SB_ACT_RELU,
    SB_ACT_CLIP,        /* min(max(x, a), b) */
    SB_ACT_HARDSIGMOID, /* max(0, min(1, a*x + b)) */
    SB_ACT_HARDSWISH,   /* x * max(0, min(1, x/6 + 1/2)) */
    SB_ACT_SIGMOID,
    SB_ACT_XHARDSIGMOID, /* x * max(0, min(1, a*x + b)): exported hard-swish, Mul(x, HardSigmoid(x)) */
} sb_act_kind;

typedef struct sb_act {
    sb_act_kind kind;
    float a, b;
} sb_act;

float sb_act_apply(const sb_act *act, float x);
/* Applies act in place to n floats. */
void sb_act_apply_n(const sb_act *act, float *x, size_t n);

typedef enum { SB_BIAS_NONE = 0, SB_BIAS_ROW, SB_BIAS_COL, SB_BIAS_SCALAR } sb_bias_kind;

typedef struct sb_epilogue {
    sb_bias_kind bias_kind;
    const float *bias; /* ROW: length M, COL: length N, SCALAR: 1 */
    float alpha;       /* C = alpha*A*B + bias; 0 means 1 */
    sb_act act;
} sb_epilogue;

/* C[M x N] = act(alpha * op(A) * op(B) + bias), row-major with leading dimensions.
 * op(A) is M x K (A stored K x M when transA), op(B) is K x N (B stored N x K when transB).
 * ep may be NULL (no bias, alpha 1, no activation). */
void sb_sgemm(int transA, int transB, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc, const sb_epilogue *ep);

/* Constant A (M x K, not transposed) packed once into the micro-kernels' layout (for the ISA
 * of this process), then used by any number of sb_sgemm_prepacked calls: same results, bit for
 * bit, as sb_sgemm with A itself. */
size_t sb_sgemm_packed_a_floats(int M, int K);
void sb_sgemm_pack_a(int M, int K, const float *A, int lda, float *packed);
void sb_sgemm_prepacked(int M, int N, int K, const float *packed_a, const float *B, int ldb,
                        float *C, int ldc, const sb_epilogue *ep);

/* sb_sgemm (A not transposed; A itself, or packed_a from sb_sgemm_pack_a when not NULL) with B
 * given row by row: row k of B is the N floats at B + b_rows[k]. The implicit-GEMM convolution
 * reads its taps from a padded copy of the input this way instead of materialising im2col. */
void sb_sgemm_rows(int M, int N, int K, const float *A, int lda, const float *packed_a,
                   const float *B, const int *b_rows, float *C, int ldc, const sb_epilogue *ep);

/* 1-D and 2-D convolution (1-D is H = 1, kh = 1), NCHW, weights M x (C/group) x kh x kw. */
typedef struct sb_conv_geom {
    int C, H, W;    /* input channels and spatial size, per image */
    int M, OH, OW;  /* output channels and spatial size */
    int kh, kw;     /* kernel */
    int sh, sw;     /* strides */
    int dh, dw;     /* dilations */
    int pt, pl;     /* top/left padding (bottom/right follow from OH/OW) */
    int group;
} sb_conv_geom;

/* Floats of scratch space sb_conv2d needs for a batch of n images with up to `threads` threads
 * (<= 0: omp_get_max_threads()); the call must then run with no more threads than that. */
size_t sb_conv2d_scratch(const sb_conv_geom *g, int n, int threads);
/* y[n][M][OH][OW] = act(conv(x[n][C][H][W], w) + bias); bias may be NULL. */
void sb_conv2d(const sb_conv_geom *g, int n, const float *x, const float *w, const float *bias,
               const sb_act *act, float *y, float *scratch);

/* Weights packed once for the GEMM strategies (0 floats for depthwise), then passed to
 * sb_conv2d_ex (packed may be NULL there: w is then packed on every call). */
size_t sb_conv2d_packed_floats(const sb_conv_geom *g);
void sb_conv2d_pack(const sb_conv_geom *g, const float *w, float *packed);
void sb_conv2d_ex(const sb_conv_geom *g, int n, const float *x, const float *w,
                  const float *packed, const float *bias, const sb_act *act, float *y,
                  float *scratch);

/* The strategy sb_conv2d uses for g: "dw-direct", "1x1-gemm" or "im2col-gemm". */
const char *sb_conv2d_kernel(const sb_conv_geom *g);

/* Which SIMD level the kernels dispatched to at run time ("avx512", "avx2", "generic"). */
const char *sb_kernels_isa(void);

#endif
