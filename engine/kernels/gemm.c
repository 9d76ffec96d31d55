/* Dense f32 GEMM: cache-blocked, packed panels, register-blocked micro-kernels per ISA (AVX-512,
 * AVX2+FMA, portable C) chosen once at run time, OpenMP over tiles of C.
 *
 * Determinism: every element of C is one chain of multiply-adds over k = 0..K-1 in increasing
 * order, started from zero. A micro-kernel starts the chain on the first K block and, on later
 * blocks, reloads the partial sum it stored in C (a float round trip, so exact) and continues it.
 * Hence neither the cache blocking, nor the micro-tile size used at an edge, nor how C is split
 * between threads, nor M can change a single bit of the result; only the ISA (fused or separate
 * multiply-add) can, and it is fixed for the life of the process. */
#include "kernels/kernels.h"

#include <limits.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/simd.h"

/* Below this many multiply-adds per thread a fork/join costs more than the thread saves. */
#define SB_GEMM_MACS_PER_THREAD (1L << 21)
/* ... or per this many floats of the larger operand streamed from memory. */
#define SB_GEMM_FLOATS_PER_THREAD (1L << 18)
/* Relative cost of packing one element versus one multiply-add, for choosing the split. */
#define SB_PACK_COST 16

enum { ISA_GENERIC = 0, ISA_AVX2, ISA_AVX512 };

/* ---- run-time ISA choice ---- */

static int isa_detect(void)
{
    int best = ISA_GENERIC;
#ifdef SB_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        best = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        best = ISA_AVX2;
#endif
    /* SB_ISA can only lower the level: it lets the tests and benchmarks exercise every path on
     * one machine, and never selects instructions the CPU lacks. */
    const char *want = getenv("SB_ISA");
    if (want && strcmp(want, "generic") == 0)
        best = ISA_GENERIC;
    else if (want && strcmp(want, "avx2") == 0 && best > ISA_AVX2)
        best = ISA_AVX2;
    return best;
}

static int isa_level(void)
{
    static _Atomic int level = -1;
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        /* Racing first calls compute the same value, so a plain store is enough. */
        l = isa_detect();
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}

const char *sb_kernels_isa(void)
{
    static const char *const names[] = {"generic", "avx2", "avx512"};
    return names[isa_level()];
}

/* ---- micro-kernels ---- */

/* What the last K block does to a tile before storing it. */
typedef struct tile_ep {
    float alpha;       /* applied when != 1 */
    sb_bias_kind kind; /* bias already offset to the tile's first row (ROW) or column (COL) */
    const float *bias;
    const sb_act *act;
} tile_ep;

/* C[mr x nr] (+)= A_panel * B_panel over kc. a: packed, MR floats per k (rows >= mr are zero).
 * b: NR floats per k, ldb apart (a packed panel or B itself), or, when boff is not NULL, at
 * b + boff[k] (B itself with its rows anywhere: the implicit-GEMM convolution); NR readable
 * columns unless the ISA reads B with masks (isa_desc.masked_b), then nr.
 * first: start the chains from zero rather than from C. ep: non-NULL on the last K block. */
typedef void (*kern_fn)(int mr, int nr, int kc, const float *a, const float *b, ptrdiff_t ldb,
                        const int *boff, float *c, ptrdiff_t ldc, int first, const tile_ep *ep);

/* Activations the SIMD epilogues do not apply in registers (Sigmoid: libm's expf) go through
 * sb_act_apply_n once the tile is stored. The in-register versions repeat act.c's operations in
 * the same order; a test checks the two agree bit for bit. */
static void tile_act(const tile_ep *ep, float *c, ptrdiff_t ldc, int mr, int nr)
{
    for (int i = 0; i < mr; i++)
        sb_act_apply_n(ep->act, c + i * ldc, (size_t)nr);
}

/* Portable kernel: plain C, separate multiply and add (the Makefile's ISO C mode disables
 * contraction), so it is also the reference for machines without FMA. */
#define GEN_MR 4
#define GEN_NR 8

static void kern_generic(int mr, int nr, int kc, const float *restrict a, const float *restrict b,
                         ptrdiff_t ldb, const int *boff, float *restrict c, ptrdiff_t ldc,
                         int first, const tile_ep *ep)
{
    float acc[GEN_MR][GEN_NR];
    for (int i = 0; i < GEN_MR; i++)
        for (int j = 0; j < GEN_NR; j++)
            acc[i][j] = (first || i >= mr || j >= nr) ? 0.0f : c[i * ldc + j];
    for (int k = 0; k < kc; k++) {
        const float *bk = boff ? b + boff[k] : b + k * ldb;
        for (int i = 0; i < GEN_MR; i++)
            for (int j = 0; j < GEN_NR; j++)
                acc[i][j] += a[i] * bk[j];
        a += GEN_MR;
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++) {
            float v = acc[i][j];
            if (ep && ep->alpha != 1.0f)
                v *= ep->alpha;
            if (ep && ep->kind == SB_BIAS_ROW)
                v += ep->bias[i];
            else if (ep && ep->kind == SB_BIAS_COL)
                v += ep->bias[j];
            else if (ep && ep->kind == SB_BIAS_SCALAR)
                v += ep->bias[0];
            c[i * ldc + j] = v;
        }
    }
    if (ep && ep->act->kind != SB_ACT_NONE)
        tile_act(ep, c, ldc, mr, nr);
}

#ifdef SB_X86

/* AVX-512: 12 x 32 tile = 24 zmm accumulators, 2 for B, 1 broadcast. Enough independent chains
 * to cover FMA latency x 2 pipes, and 14 loads per 24 FMAs. */
#define K512_MR 12
#define K512_NR 32

SB_INLINE SB_TGT512 __m512 k512_bias(const tile_ep *ep, int i, int v, __mmask16 m)
{
    switch (ep->kind) {
    case SB_BIAS_ROW:
        return _mm512_set1_ps(ep->bias[i]);
    case SB_BIAS_COL:
        return _mm512_maskz_loadu_ps(m, ep->bias + 16 * v);
    case SB_BIAS_SCALAR:
        return _mm512_set1_ps(ep->bias[0]);
    default:
        return _mm512_setzero_ps();
    }
}

SB_INLINE SB_TGT512 __m512 k512_act(const sb_act *a, __m512 v)
{
    const __m512 zero = _mm512_setzero_ps();
    switch (a->kind) {
    case SB_ACT_RELU:
        return _mm512_max_ps(zero, v);
    case SB_ACT_CLIP:
        return _mm512_min_ps(_mm512_set1_ps(a->b), _mm512_max_ps(_mm512_set1_ps(a->a), v));
    case SB_ACT_HARDSIGMOID:
        v = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(a->a), v), _mm512_set1_ps(a->b));
        return _mm512_max_ps(zero, _mm512_min_ps(_mm512_set1_ps(1.0f), v));
    case SB_ACT_XHARDSIGMOID: {
        __m512 t = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(a->a), v), _mm512_set1_ps(a->b));
        t = _mm512_max_ps(zero, _mm512_min_ps(_mm512_set1_ps(1.0f), t));
        return _mm512_mul_ps(v, t);
    }
    case SB_ACT_HARDSWISH: {
        const __m512 six = _mm512_set1_ps(6.0f);
        __m512 t = _mm512_add_ps(v, _mm512_set1_ps(3.0f));
        t = _mm512_min_ps(six, _mm512_max_ps(zero, t));
        return _mm512_div_ps(_mm512_mul_ps(v, t), six);
    }
    default:
        return v;
    }
}

/* mr and nv (vectors per row) are compile-time constants at every call site, so the loops
 * unroll and the accumulators live in registers. */
SB_INLINE SB_TGT512 void k512_body(const int mr, const int nv, int nr, int kc,
                                   const float *restrict a, const float *restrict b, ptrdiff_t ldb,
                                   const int *boff, float *restrict c, ptrdiff_t ldc, int first,
                                   const tile_ep *ep)
{
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffffu : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    __m512 c0[K512_MR], c1[K512_MR];
#pragma GCC unroll 16
    for (int i = 0; i < mr; i++) {
        c0[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, c + i * ldc);
        c1[i] =
            (first || nv < 2) ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
    }
    for (int k = 0; k < kc; k++) {
        /* Masked loads cost the same as plain ones and let a ragged B edge be read in place. */
        const float *bk = boff ? b + boff[k] : b + k * ldb;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bk);
        const __m512 b1 = nv > 1 ? _mm512_maskz_loadu_ps(m1, bk + 16) : b0;
#pragma GCC unroll 16
        for (int i = 0; i < mr; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            if (nv > 1)
                c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
        a += K512_MR;
    }
    if (ep) {
        const __m512 alpha = _mm512_set1_ps(ep->alpha);
#pragma GCC unroll 16
        for (int i = 0; i < mr; i++) {
            if (ep->alpha != 1.0f) {
                c0[i] = _mm512_mul_ps(c0[i], alpha);
                c1[i] = _mm512_mul_ps(c1[i], alpha);
            }
            if (ep->kind != SB_BIAS_NONE) {
                c0[i] = _mm512_add_ps(c0[i], k512_bias(ep, i, 0, m0));
                if (nv > 1)
                    c1[i] = _mm512_add_ps(c1[i], k512_bias(ep, i, 1, m1));
            }
            c0[i] = k512_act(ep->act, c0[i]);
            if (nv > 1)
                c1[i] = k512_act(ep->act, c1[i]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < mr; i++) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
        if (nv > 1)
            _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
    }
    if (ep && ep->act->kind == SB_ACT_SIGMOID)
        tile_act(ep, c, ldc, mr, nr);
}

/* clang-format off */
#define K512_CASE(MR_, NV_, OFF_)                                                                        \
    case MR_:                                                                                      \
        k512_body(MR_, NV_, nr, kc, a, b, ldb, OFF_, c, ldc, first, ep);                                 \
        break;
#define K512_SWITCH(NV_, OFF_)                                                                           \
    switch (mr) {                                                                                  \
        K512_CASE(1, NV_, OFF_) K512_CASE(2, NV_, OFF_) K512_CASE(3, NV_, OFF_) K512_CASE(4, NV_, OFF_)                    \
        K512_CASE(5, NV_, OFF_) K512_CASE(6, NV_, OFF_) K512_CASE(7, NV_, OFF_) K512_CASE(8, NV_, OFF_)                    \
        K512_CASE(9, NV_, OFF_) K512_CASE(10, NV_, OFF_) K512_CASE(11, NV_, OFF_) K512_CASE(12, NV_, OFF_)                 \
    }
/* clang-format on */

/* The offset and stride variants are separate instantiations: the hot loop carries no test. */
SB_TGT512 static void kern_avx512(int mr, int nr, int kc, const float *restrict a,
                                  const float *restrict b, ptrdiff_t ldb, const int *boff,
                                  float *restrict c, ptrdiff_t ldc, int first, const tile_ep *ep)
{
    if (boff && nr > 16)
        K512_SWITCH(2, boff)
    else if (boff)
        K512_SWITCH(1, boff)
    else if (nr > 16)
        K512_SWITCH(2, NULL)
    else
        K512_SWITCH(1, NULL)
}

/* AVX2: 6 x 16 tile = 12 ymm accumulators out of 16 registers. */
#define K256_MR 6
#define K256_NR 16

SB_INLINE SB_TGT256 __m256i k256_mask(int nr, int v)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), lane);
}

SB_INLINE SB_TGT256 __m256 k256_bias(const tile_ep *ep, int i, int v, __m256i m)
{
    switch (ep->kind) {
    case SB_BIAS_ROW:
        return _mm256_set1_ps(ep->bias[i]);
    case SB_BIAS_COL:
        return _mm256_maskload_ps(ep->bias + 8 * v, m);
    case SB_BIAS_SCALAR:
        return _mm256_set1_ps(ep->bias[0]);
    default:
        return _mm256_setzero_ps();
    }
}

SB_INLINE SB_TGT256 __m256 k256_act(const sb_act *a, __m256 v)
{
    const __m256 zero = _mm256_setzero_ps();
    switch (a->kind) {
    case SB_ACT_RELU:
        return _mm256_max_ps(zero, v);
    case SB_ACT_CLIP:
        return _mm256_min_ps(_mm256_set1_ps(a->b), _mm256_max_ps(_mm256_set1_ps(a->a), v));
    case SB_ACT_HARDSIGMOID:
        v = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(a->a), v), _mm256_set1_ps(a->b));
        return _mm256_max_ps(zero, _mm256_min_ps(_mm256_set1_ps(1.0f), v));
    case SB_ACT_XHARDSIGMOID: {
        __m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(a->a), v), _mm256_set1_ps(a->b));
        t = _mm256_max_ps(zero, _mm256_min_ps(_mm256_set1_ps(1.0f), t));
        return _mm256_mul_ps(v, t);
    }
    case SB_ACT_HARDSWISH: {
        const __m256 six = _mm256_set1_ps(6.0f);
        __m256 t = _mm256_add_ps(v, _mm256_set1_ps(3.0f));
        t = _mm256_min_ps(six, _mm256_max_ps(zero, t));
        return _mm256_div_ps(_mm256_mul_ps(v, t), six);
    }
    default:
        return v;
    }
}

SB_INLINE SB_TGT256 void k256_body(const int mr, const int nv, int nr, int kc,
                                   const float *restrict a, const float *restrict b, ptrdiff_t ldb,
                                   const int *boff, float *restrict c, ptrdiff_t ldc, int first,
                                   const tile_ep *ep)
{
    const __m256i m0 = k256_mask(nr, 0), m1 = k256_mask(nr, 1);
    __m256 c0[K256_MR], c1[K256_MR];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        c0[i] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(c + i * ldc, m0);
        c1[i] = (first || nv < 2) ? _mm256_setzero_ps() : _mm256_maskload_ps(c + i * ldc + 8, m1);
    }
    for (int k = 0; k < kc; k++) {
        const float *bk = boff ? b + boff[k] : b + k * ldb;
        const __m256 b0 = _mm256_loadu_ps(bk);
        const __m256 b1 = nv > 1 ? _mm256_loadu_ps(bk + 8) : b0;
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            if (nv > 1)
                c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
        a += K256_MR;
    }
    if (ep) {
        const __m256 alpha = _mm256_set1_ps(ep->alpha);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            if (ep->alpha != 1.0f) {
                c0[i] = _mm256_mul_ps(c0[i], alpha);
                c1[i] = _mm256_mul_ps(c1[i], alpha);
            }
            if (ep->kind != SB_BIAS_NONE) {
                c0[i] = _mm256_add_ps(c0[i], k256_bias(ep, i, 0, m0));
                if (nv > 1)
                    c1[i] = _mm256_add_ps(c1[i], k256_bias(ep, i, 1, m1));
            }
            c0[i] = k256_act(ep->act, c0[i]);
            if (nv > 1)
                c1[i] = k256_act(ep->act, c1[i]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        _mm256_maskstore_ps(c + i * ldc, m0, c0[i]);
        if (nv > 1)
            _mm256_maskstore_ps(c + i * ldc + 8, m1, c1[i]);
    }
    if (ep && ep->act->kind == SB_ACT_SIGMOID)
        tile_act(ep, c, ldc, mr, nr);
}

/* clang-format off */
#define K256_CASE(MR_, NV_, OFF_)                                                                        \
    case MR_:                                                                                      \
        k256_body(MR_, NV_, nr, kc, a, b, ldb, OFF_, c, ldc, first, ep);                                 \
        break;
#define K256_SWITCH(NV_, OFF_)                                                                           \
    switch (mr) {                                                                                  \
        K256_CASE(1, NV_, OFF_) K256_CASE(2, NV_, OFF_) K256_CASE(3, NV_, OFF_) K256_CASE(4, NV_, OFF_)                    \
        K256_CASE(5, NV_, OFF_) K256_CASE(6, NV_, OFF_)                                                        \
    }
/* clang-format on */

SB_TGT256 static void kern_avx2(int mr, int nr, int kc, const float *restrict a,
                                const float *restrict b, ptrdiff_t ldb, const int *boff,
                                float *restrict c, ptrdiff_t ldc, int first, const tile_ep *ep)
{
    if (boff && nr > 8)
        K256_SWITCH(2, boff)
    else if (boff)
        K256_SWITCH(1, boff)
    else if (nr > 8)
        K256_SWITCH(2, NULL)
    else
        K256_SWITCH(1, NULL)
}

#endif /* SB_X86 */

/* ---- transposing pack: dst[k * P + r] = src[r * lds + k] for r < rows, 0 for rows <= r <
 * width, k < kc ----
 * Packing A (not transposed) and B (transposed) reads rows along k and writes them across a
 * panel: element by element that costs as much as the multiply-adds when N (resp. M) is small,
 * so the SIMD paths transpose whole 16x16 / 8x8 blocks in registers (width <= 16 / 8). */
typedef void (*pack_tr_fn)(const float *src, ptrdiff_t lds, int rows, int width, int kc, float *dst,
                           int P);

static void pack_tr_generic(const float *src, ptrdiff_t lds, int rows, int width, int kc,
                            float *dst, int P)
{
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < width; r++)
            dst[(size_t)k * P + r] = r < rows ? src[r * lds + k] : 0.0f;
}

/* Copying pack, for when rows of src already run along the panel: dst[k * P + j] = src[k * lds
 * + j] for j < cols, 0 for cols <= j < P (P = the ISA's MR or NR). */
typedef void (*pack_copy_fn)(const float *src, ptrdiff_t lds, int cols, int kc, float *dst, int P);

static void pack_copy_generic(const float *restrict src, ptrdiff_t lds, int cols, int kc,
                              float *restrict dst, int P)
{
    for (int k = 0; k < kc; k++, src += lds, dst += P) {
        int j = 0;
        for (; j < cols; j++)
            dst[j] = src[j];
        for (; j < P; j++)
            dst[j] = 0.0f;
    }
}

#ifdef SB_X86

SB_INLINE SB_TGT512 void tr16x16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + c], 128-bit lane L: rows 4i..4i+3 of column 4L + c. */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    /* Then a 4x4 transpose of 128-bit lanes among r[c], r[4 + c], r[8 + c], r[12 + c]. */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512 x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44);
        __m512 x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        __m512 y0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
        __m512 y1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        t[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
        t[8 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

SB_TGT512 static void pack_tr_avx512(const float *src, ptrdiff_t lds, int rows, int width, int kc,
                                     float *dst, int P)
{
    const __mmask16 rm = (__mmask16)(width >= 16 ? 0xffffu : (1u << width) - 1);
    for (int k0 = 0; k0 < kc; k0 += 16) {
        const int kk = kc - k0 < 16 ? kc - k0 : 16;
        const __mmask16 km = (__mmask16)(kk >= 16 ? 0xffffu : (1u << kk) - 1);
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * lds + k0) : _mm512_setzero_ps();
        tr16x16(r);
#pragma GCC unroll 16
        for (int c = 0; c < 16; c++)
            if (c < kk)
                _mm512_mask_storeu_ps(dst + (size_t)(k0 + c) * P, rm, r[c]);
    }
}

SB_TGT512 static void pack_copy_avx512(const float *src, ptrdiff_t lds, int cols, int kc,
                                       float *dst, int P)
{
    for (int j = 0; j < P; j += 16) {
        const int n = cols - j < 0 ? 0 : cols - j;
        const __mmask16 m = (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1);
        const __mmask16 w = (__mmask16)(P - j >= 16 ? 0xffffu : (1u << (P - j)) - 1);
        for (int k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(dst + (size_t)k * P + j, w,
                                  _mm512_maskz_loadu_ps(m, src + k * lds + (n ? j : 0)));
    }
}

SB_INLINE SB_TGT256 void tr8x8(__m256 r[8])
{
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

SB_TGT256 static void pack_tr_avx2(const float *src, ptrdiff_t lds, int rows, int width, int kc,
                                   float *dst, int P)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i rm = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane);
    for (int k0 = 0; k0 < kc; k0 += 8) {
        const int kk = kc - k0 < 8 ? kc - k0 : 8;
        const __m256i km = _mm256_cmpgt_epi32(_mm256_set1_epi32(kk), lane);
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            r[i] = i < rows ? _mm256_maskload_ps(src + i * lds + k0, km) : _mm256_setzero_ps();
        tr8x8(r);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++)
            if (c < kk)
                _mm256_maskstore_ps(dst + (size_t)(k0 + c) * P, rm, r[c]);
    }
}

SB_TGT256 static void pack_copy_avx2(const float *src, ptrdiff_t lds, int cols, int kc, float *dst,
                                     int P)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int j = 0; j < P; j += 8) {
        const int n = cols - j < 0 ? 0 : cols - j;
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
        const __m256i w = _mm256_cmpgt_epi32(_mm256_set1_epi32(P - j), lane);
        for (int k = 0; k < kc; k++)
            _mm256_maskstore_ps(dst + (size_t)k * P + j, w,
                                _mm256_maskload_ps(src + k * lds + (n ? j : 0), m));
    }
}

#endif /* SB_X86 */

/* ---- ISA table ---- */

typedef struct isa_desc {
    int mr, nr;     /* micro-tile */
    int kc, mc, nc; /* cache blocks: B micro-panel (kc x nr) in L1, A block (mc x kc) in L2 */
    kern_fn kern;
    pack_tr_fn pack_tr;
    int tr_rows; /* rows pack_tr handles per call */
    pack_copy_fn pack_copy;
    int masked_b; /* the kernel reads only nr columns of B */
} isa_desc;

/* Blocking (results never depend on it). KC = 192 keeps an AVX-512 B micro-panel (24 KB) and
 * an A micro-panel (9 KB) within a 48 KB L1; MC x KC of A (110 KB) and KC x NC of B (384 KB)
 * share a 1 MB L2. KC is the same for every ISA only for simplicity. */
#define GEMM_KC 192
#define GEMM_MAX_MR 12 /* bounds for the low-memory fallback's stack buffers */
#define GEMM_MAX_NR 32

static const isa_desc isa_table[] = {
    [ISA_GENERIC] = {GEN_MR, GEN_NR, GEMM_KC, 128, 512, kern_generic, pack_tr_generic, GEN_NR,
                     pack_copy_generic, 0},
#ifdef SB_X86
    [ISA_AVX2] = {K256_MR, K256_NR, GEMM_KC, 144, 512, kern_avx2, pack_tr_avx2, 8, pack_copy_avx2,
                  0},
    [ISA_AVX512] = {K512_MR, K512_NR, GEMM_KC, 144, 512, kern_avx512, pack_tr_avx512, 16,
                    pack_copy_avx512, 1},
#endif
};
_Static_assert(GEN_MR <= GEMM_MAX_MR && GEN_NR <= GEMM_MAX_NR, "fallback buffers");
#ifdef SB_X86
_Static_assert(K512_MR <= GEMM_MAX_MR && K512_NR <= GEMM_MAX_NR, "fallback buffers");
_Static_assert(K256_MR <= GEMM_MAX_MR && K256_NR <= GEMM_MAX_NR, "fallback buffers");
#endif

/* ---- packing ---- */

typedef struct gemm_args {
    int ta, tb, M, N, K;
    const float *A, *B;
    float *C;
    ptrdiff_t lda, ldb, ldc;
    float alpha;
    sb_bias_kind bias_kind;
    const float *bias;
    sb_act act;
    int pack_b; /* 0: the kernels read full-width B panels in place (B not transposed) */
    const float *a_packed; /* A already packed by sb_sgemm_pack_a, or NULL */
    const int *b_rows;     /* row k of B at B + b_rows[k] (ldb unused), or NULL */
    int m_pad;             /* M rounded up to MR (rows per K block of a_packed) */
} gemm_args;

/* Rows [r0, r0 + P) of a panel from `rows` rows of src (lds apart along the panel, k along
 * src rows), zero-padded, through the ISA's transposing packer. */
static void pack_panel_tr(const isa_desc *isa, const float *src, ptrdiff_t lds, int rows, int kc,
                          float *dst, int P)
{
    for (int r0 = 0; r0 < P; r0 += isa->tr_rows) {
        const int width = P - r0 < isa->tr_rows ? P - r0 : isa->tr_rows;
        const int n = rows - r0 < 0 ? 0 : rows - r0 < width ? rows - r0 : width;
        isa->pack_tr(n ? src + r0 * lds : src, lds, n, width, kc, dst + r0, P);
    }
}

/* op(A)[m0 .. m0+mc) x [k0 .. k0+kc) into MR-row panels, k-major, padded rows zeroed. */
static void pack_a(const isa_desc *isa, const gemm_args *g, int m0, int mc, int k0, int kc,
                   float *dst)
{
    for (int p = 0; p < mc; p += isa->mr) {
        const int mr = mc - p < isa->mr ? mc - p : isa->mr;
        float *d = dst + (size_t)p * kc;
        if (!g->ta)
            pack_panel_tr(isa, g->A + (size_t)(m0 + p) * g->lda + k0, g->lda, mr, kc, d, isa->mr);
        else
            isa->pack_copy(g->A + (size_t)k0 * g->lda + m0 + p, g->lda, mr, kc, d, isa->mr);
    }
}

/* dst[k * P + j] = src[rows[k] + j] for j < cols, 0 up to P: a panel of a B given by row. */
static void pack_rows(const float *src, const int *rows, int cols, int kc, float *dst, int P)
{
    for (int k = 0; k < kc; k++) {
        memcpy(dst + (size_t)k * P, src + rows[k], sizeof(float) * (size_t)cols);
        memset(dst + (size_t)k * P + cols, 0, sizeof(float) * (size_t)(P - cols));
    }
}

/* op(B)[k0 .. k0+kc) x [n0 .. n0+nc) into NR-column panels, padded columns zeroed. */
static void pack_b(const isa_desc *isa, const gemm_args *g, int n0, int nc, int k0, int kc,
                   float *dst)
{
    for (int p = 0; p < nc; p += isa->nr) {
        const int nr = nc - p < isa->nr ? nc - p : isa->nr;
        float *d = dst + (size_t)p * kc;
        if (g->b_rows)
            pack_rows(g->B + n0 + p, g->b_rows + k0, nr, kc, d, isa->nr);
        else if (!g->tb)
            isa->pack_copy(g->B + (size_t)k0 * g->ldb + n0 + p, g->ldb, nr, kc, d, isa->nr);
        else
            pack_panel_tr(isa, g->B + (size_t)(n0 + p) * g->ldb + k0, g->ldb, nr, kc, d, isa->nr);
    }
}

/* ---- blocked driver for one rectangle of C (one thread) ---- */

typedef struct rect {
    int m0, m1, n0, n1;
} rect;

static void gemm_blocked(const isa_desc *d, const gemm_args *g, rect r, int mcb, int ncb, float *Ap,
                         float *Bp)
{
    const int MR = d->mr, NR = d->nr, KC = d->kc;
    for (int jc = r.n0; jc < r.n1; jc += ncb) {
        const int nc = r.n1 - jc < ncb ? r.n1 - jc : ncb;
        for (int pc = 0; pc < g->K; pc += KC) {
            const int kc = g->K - pc < KC ? g->K - pc : KC;
            const int first = pc == 0, last = pc + kc == g->K;
            /* Columns [jc, jc + full) are read in place; without masked loads a ragged last
             * panel is packed instead. */
            const int full = g->pack_b ? 0 : d->masked_b ? nc : nc / NR * NR;
            if (nc > full)
                pack_b(d, g, jc + full, nc - full, pc, kc, Bp + (size_t)full * kc);
            for (int ic = r.m0; ic < r.m1; ic += mcb) {
                const int mc = r.m1 - ic < mcb ? r.m1 - ic : mcb;
                const float *Ablk = Ap;
                if (g->a_packed) /* K blocks before pc are all full (KC) */
                    Ablk = g->a_packed + (size_t)pc * g->m_pad + (size_t)ic * kc;
                else
                    pack_a(d, g, ic, mc, pc, kc, Ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = Bp + (size_t)jr * kc;
                    ptrdiff_t ldbp = NR;
                    const int *boff = NULL;
                    if (jr < full && g->b_rows) {
                        bp = g->B + jc + jr;
                        boff = g->b_rows + pc;
                    } else if (jr < full) {
                        bp = g->B + (size_t)pc * g->ldb + jc + jr;
                        ldbp = g->ldb;
                    }
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        const int row = ic + ir, col = jc + jr;
                        tile_ep ep = {g->alpha, g->bias_kind, g->bias, &g->act};
                        if (g->bias_kind == SB_BIAS_ROW)
                            ep.bias += row;
                        else if (g->bias_kind == SB_BIAS_COL)
                            ep.bias += col;
                        d->kern(mr, nr, kc, Ablk + (size_t)ir * kc, bp, ldbp, boff,
                                g->C + (size_t)row * g->ldc + col, g->ldc, first,
                                last ? &ep : NULL);
                    }
                }
            }
        }
    }
}

/* Per-thread packing buffer, kept between calls (packing space is needed on every call) and
 * freed by a key destructor when the thread exits. */
static pthread_key_t buf_key;
static int buf_key_ok;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static _Thread_local float *tl_buf;
static _Thread_local size_t tl_cap;

static void buf_key_init(void)
{
    /* Without a key (never seen in practice) a buffer outlives its thread: a leak, not a bug. */
    buf_key_ok = pthread_key_create(&buf_key, free) == 0;
}

static float *thread_buffer(size_t floats)
{
    if (floats <= tl_cap)
        return tl_buf;
    pthread_once(&buf_once, buf_key_init);
    free(tl_buf);
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    tl_buf = aligned_alloc(64, bytes);
    tl_cap = tl_buf ? floats : 0;
    if (buf_key_ok)
        pthread_setspecific(buf_key, tl_buf);
    return tl_buf;
}

/* Out of memory: the same computation with one micro-panel of A and B at a time on the stack
 * (slow but identical, since blocking never changes results). */
static void gemm_rect_lowmem(const isa_desc *d, const gemm_args *g, rect r)
{
    float Ap[GEMM_KC * GEMM_MAX_MR] __attribute__((aligned(64)));
    float Bp[GEMM_KC * GEMM_MAX_NR] __attribute__((aligned(64)));
    gemm_blocked(d, g, r, d->mr, d->nr, Ap, Bp);
}

static void gemm_rect(const isa_desc *d, const gemm_args *g, rect r)
{
    if (r.m0 >= r.m1 || r.n0 >= r.n1)
        return;
    const int KC = d->kc, MR = d->mr, NR = d->nr;
    int mcb = d->mc, ncb = d->nc;
    /* Do not reserve (or zero) more than the rectangle needs. */
    if (r.m1 - r.m0 < mcb)
        mcb = (r.m1 - r.m0 + MR - 1) / MR * MR;
    if (r.n1 - r.n0 < ncb)
        ncb = (r.n1 - r.n0 + NR - 1) / NR * NR;
    const int kc = g->K < KC ? g->K : KC;
    const size_t na = ((size_t)mcb * kc + 15) & ~(size_t)15;
    float *buf = thread_buffer(na + (size_t)ncb * kc);
    if (!buf) {
        gemm_rect_lowmem(d, g, r);
        return;
    }
    gemm_blocked(d, g, r, mcb, ncb, buf, buf + na);
}

/* ---- splitting C between threads ---- */

/* Chunk t of T over `tiles` tiles of `unit` elements, clipped to n. */
static void chunk(int n, int unit, int tiles, int T, int t, int *lo, int *hi)
{
    int a = (int)((long)tiles * t / T) * unit, b = (int)((long)tiles * (t + 1) / T) * unit;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

/* Picks a 1-D split of C between T threads (along N or M), whichever has the shorter critical
 * path counting the packing each thread repeats. Returns the number of threads to use. */
static int plan_split(const isa_desc *d, const gemm_args *g, int T, int *along_n)
{
    const long M = g->M, N = g->N, K = g->K;
    const long macs = M * N * K;
    /* A GEMM that streams a large A or B (a classifier at batch 1) is bound by memory, and
     * two cores stream faster than one. */
    const long streamed = (M * K > K * N ? M * K : K * N) / SB_GEMM_FLOATS_PER_THREAD;
    long cap = macs / SB_GEMM_MACS_PER_THREAD;
    if (cap < streamed)
        cap = streamed;
    if (T > cap)
        T = cap < 1 ? 1 : (int)cap;
    const int tm = (g->M + d->mr - 1) / d->mr, tn = (g->N + d->nr - 1) / d->nr;
    if (T > (tm > tn ? tm : tn))
        T = tm > tn ? tm : tn;
    if (T <= 1) {
        *along_n = 1;
        return 1;
    }
    const long cn = (tn + T - 1) / T * (long)d->nr, cm = (tm + T - 1) / T * (long)d->mr;
    const long pa = g->a_packed ? 0 : 1, pb = g->pack_b ? 1 : 0; /* what each thread packs */
    const long cost_n = tn >= T ? M * cn * K + SB_PACK_COST * (pa * M * K + pb * cn * K) : LONG_MAX;
    const long cost_m = tm >= T ? cm * N * K + SB_PACK_COST * (pa * cm * K + pb * N * K) : LONG_MAX;
    *along_n = cost_n <= cost_m;
    return T;
}

static void gemm_k0(const gemm_args *g)
{
    for (int i = 0; i < g->M; i++) {
        float *c = g->C + (size_t)i * g->ldc;
        for (int j = 0; j < g->N; j++) {
            float v = 0.0f;
            if (g->alpha != 1.0f)
                v *= g->alpha;
            if (g->bias_kind == SB_BIAS_ROW)
                v += g->bias[i];
            else if (g->bias_kind == SB_BIAS_COL)
                v += g->bias[j];
            else if (g->bias_kind == SB_BIAS_SCALAR)
                v += g->bias[0];
            c[j] = v;
        }
        sb_act_apply_n(&g->act, c, (size_t)g->N);
    }
}

/* Fills g from the public arguments; false when C is empty. */
static int gemm_setup(gemm_args *g, int M, int N, int K, const sb_epilogue *ep)
{
    g->M = M, g->N = N, g->K = K < 0 ? 0 : K;
    g->alpha = 1.0f;
    g->bias_kind = SB_BIAS_NONE;
    g->act = (sb_act){SB_ACT_NONE, 0.0f, 0.0f};
    if (ep) {
        g->alpha = ep->alpha == 0.0f ? 1.0f : ep->alpha;
        g->bias_kind = ep->bias ? ep->bias_kind : SB_BIAS_NONE;
        g->bias = ep->bias;
        g->act = ep->act;
    }
    return M > 0 && N > 0;
}

static void gemm_run(gemm_args *g)
{
    if (g->K == 0) {
        gemm_k0(g);
        return;
    }
    const isa_desc *d = &isa_table[isa_level()];
    /* A transposed B has to be packed so that the rows of a panel are contiguous. Otherwise
     * the kernels read B in place (measured faster: no copy, and the rows stream well from L2)
     * unless the row stride is a multiple of 256 bytes: then the kc rows of a panel fall into
     * a few L1 sets and would evict each other between the row panels of A that reuse them. */
    g->pack_b = !g->b_rows && (g->tb || (g->M > 2 * d->mr && g->ldb % 64 == 0));

    int along_n = 1;
    const int T = omp_in_parallel() ? 1 : plan_split(d, g, omp_get_max_threads(), &along_n);
    if (T <= 1) {
        gemm_rect(d, g, (rect){0, g->M, 0, g->N});
        return;
    }
    const int M = g->M, N = g->N;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        rect r = {0, M, 0, N};
        if (along_n)
            chunk(N, d->nr, (N + d->nr - 1) / d->nr, nt, t, &r.n0, &r.n1);
        else
            chunk(M, d->mr, (M + d->mr - 1) / d->mr, nt, t, &r.m0, &r.m1);
        gemm_rect(d, g, r);
    }
}

void sb_sgemm(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float *C, int ldc, const sb_epilogue *ep)
{
    gemm_args g = {.ta = transA != 0, .tb = transB != 0, .A = A, .B = B, .C = C,
                   .lda = lda, .ldb = ldb, .ldc = ldc};
    if (gemm_setup(&g, M, N, K, ep))
        gemm_run(&g);
}

/* ---- A packed once (constant weights) ---- */

static int m_padded(int M)
{
    const int mr = isa_table[isa_level()].mr;
    return (M + mr - 1) / mr * mr;
}

size_t sb_sgemm_packed_a_floats(int M, int K)
{
    return M > 0 && K > 0 ? (size_t)m_padded(M) * (size_t)K : 0;
}

void sb_sgemm_pack_a(int M, int K, const float *A, int lda, float *packed)
{
    const isa_desc *d = &isa_table[isa_level()];
    gemm_args g = {.A = A, .lda = lda, .M = M, .K = K};
    const int m_pad = m_padded(M);
    for (int pc = 0; pc < K; pc += d->kc) {
        const int kc = K - pc < d->kc ? K - pc : d->kc;
        pack_a(d, &g, 0, M, pc, kc, packed + (size_t)pc * m_pad);
    }
}

void sb_sgemm_prepacked(int M, int N, int K, const float *packed_a, const float *B, int ldb,
                        float *C, int ldc, const sb_epilogue *ep)
{
    gemm_args g = {.B = B, .C = C, .ldb = ldb, .ldc = ldc, .a_packed = packed_a,
                   .m_pad = m_padded(M)};
    if (gemm_setup(&g, M, N, K, ep))
        gemm_run(&g);
}

void sb_sgemm_rows(int M, int N, int K, const float *A, int lda, const float *packed_a,
                   const float *B, const int *b_rows, float *C, int ldc, const sb_epilogue *ep)
{
    gemm_args g = {.A = A, .lda = lda, .B = B, .b_rows = b_rows, .C = C, .ldc = ldc,
                   .a_packed = packed_a, .m_pad = packed_a ? m_padded(M) : 0};
    if (gemm_setup(&g, M, N, K, ep))
        gemm_run(&g);
}
