/* 1-D/2-D convolution, NCHW float32, any stride, dilation, padding and group.
 *
 * Three strategies, chosen from the geometry alone:
 *   - depthwise (one input channel per group, small multiplier): a direct kernel vectorised over
 *     output positions, because im2col + GEMM would run a K = kh*kw GEMM per channel;
 *   - 1x1, stride 1, unpadded: the input already is the GEMM's B matrix;
 *   - everything else: im2col into scratch, then sb_sgemm with bias and activation fused.
 * Each output is one chain of multiply-adds over (input channel, kernel row, kernel column) in
 * that order, started from zero, then + bias, then the activation: exactly what sb_sgemm does,
 * so the strategies, the batch size and the thread count never change a bit of the output. */
#include "kernels/kernels.h"
#include "kernels/sparse.h"

#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/simd.h"
#include "par.h"

typedef enum { CONV_DEPTHWISE, CONV_POINTWISE, CONV_IM2COL, CONV_IMPLICIT } conv_kind;

/* Widest vector any depthwise kernel uses; the plane is sized for it whatever the ISA. */
#define DW_VEC 16
/* Largest channel multiplier M / C the direct depthwise kernel takes. */
#define DW_MAX_MULT 3
/* Output vectors a depthwise kernel keeps in flight, to hide FMA latency on short rows. */
#define DW_UNROLL 4
/* Below this many floats (im2col) or multiply-adds (depthwise) per image, a fork/join of the
 * channel loop costs more than it saves. */
#define CONV_PAR_MIN (1 << 16)
/* Depthwise multiply-adds below which one thread does a layer: a fork/join with passive waiting
 * costs ~15 us here, as much as ~1M depthwise multiply-adds. */
#define DW_PAR_MIN (1 << 20)

static bool implicit_pays(const sb_conv_geom *g);

static conv_kind conv_kind_of(const sb_conv_geom *g)
{
    /* With many outputs per input channel (a 1-channel stem: C = group = 1) the GEMM does
     * better: its M is the multiplier, and the column matrix is shared by all of them. */
    if (g->group == g->C && g->M % g->C == 0 && g->M / g->C <= DW_MAX_MULT)
        return CONV_DEPTHWISE;
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
        g->OH == g->H && g->OW == g->W)
        return CONV_POINTWISE;
    return implicit_pays(g) ? CONV_IMPLICIT : CONV_IM2COL;
}

const char *sb_conv2d_kernel(const sb_conv_geom *g)
{
    static const char *const names[] = {"dw-direct", "1x1-gemm", "im2col-gemm", "implicit-gemm"};
    return names[conv_kind_of(g)];
}

/* ---- depthwise ----
 * One input channel is copied into a zero-padded plane whose rows are split by column phase
 * (column col of padded row r lives at [(r*s + col % s) * Wq + col / s], s = horizontal stride).
 * Then, for any stride and dilation, the input of 16 consecutive outputs for one tap is 16
 * consecutive floats: plane + base(oh, ow) + off(i, j). */

typedef struct dw_geom {
    int s;      /* horizontal stride = number of column phases */
    int Hp, Wq; /* padded rows, floats per phase row (covers vector over-reads) */
} dw_geom;

static dw_geom dw_geom_of(const sb_conv_geom *g)
{
    dw_geom d;
    d.s = g->sw;
    d.Hp = (g->OH - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    int owv = (g->OW + DW_VEC - 1) / DW_VEC * DW_VEC;
    d.Wq = owv + (g->kw - 1) * g->dw / g->sw;
    return d;
}

static size_t dw_plane_floats(const sb_conv_geom *g)
{
    dw_geom d = dw_geom_of(g);
    return (size_t)d.Hp * (size_t)d.s * (size_t)d.Wq;
}

/* ---- implicit GEMM ----
 * The input, zero-padded, is split by row phase (padded row mod sh) and column phase (padded
 * column mod sw) into planes of Hq x Wq. Output (oh, ow) becomes column oh * Wq + ow of the GEMM,
 * and tap (c, i, j) of every output is then the same plane offset away from that column: row k
 * of the GEMM's B is the plane itself, read at an offset (sb_sgemm_rows). The Wq - OW columns at
 * the end of each output row are computed and dropped. The multiply-adds and their order are
 * those of im2col + GEMM (the padding is the same zeros), so the two give identical bits; this
 * one copies each input element once instead of kh * kw / (sh * sw) times. */
typedef struct phase_geom {
    int Hq, Wq;         /* rows and columns of one phase plane */
    size_t chan;        /* floats between channels: sh * sw planes, plus a cache-set offset */
    int N;              /* GEMM columns: (OH - 1) * Wq + OW */
    unsigned used;      /* bit pr * sw + pc: some tap reads phase (pr, pc) */
} phase_geom;

/* Phases are planned only for the strides the mask `used` can describe. */
#define PHASE_MAX_STRIDE 4

static phase_geom phase_geom_of(const sb_conv_geom *g)
{
    phase_geom q;
    const int Hp = (g->OH - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    const int Wp = (g->OW - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    q.Hq = (Hp + g->sh - 1) / g->sh;
    q.Wq = (Wp + g->sw - 1) / g->sw;
    q.N = (g->OH - 1) * q.Wq + g->OW;
    q.chan = (size_t)g->sh * g->sw * q.Hq * q.Wq;
    /* Rows of B a multiple of 256 bytes apart share a few L1 sets and evict each other. */
    if (q.chan % 64 == 0)
        q.chan += 16;
    q.used = 0;
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++)
            q.used |= 1u << (i * g->dh % g->sh * g->sw + j * g->dw % g->sw);
    return q;
}

/* Worth it unless the dropped columns would be a large part of the GEMM (very narrow outputs
 * with wide kernels) or the strides are unusual; offsets must also fit an int. */
static bool implicit_pays(const sb_conv_geom *g)
{
    if (g->sh > PHASE_MAX_STRIDE || g->sw > PHASE_MAX_STRIDE)
        return false;
    const phase_geom q = phase_geom_of(g);
    const size_t N = (size_t)g->OH * g->OW;
    return (size_t)q.N <= N + N / 2 + 16 && (double)q.chan * (g->C / g->group) < 2e9;
}

/* rows[(c * kh + i) * kw + j]: where tap (c, i, j) of output column 0 lies in the planes. */
static void phase_rows(const sb_conv_geom *g, const phase_geom *q, int Cg, int *rows)
{
    const size_t plane = (size_t)q->Hq * q->Wq;
    int k = 0;
    for (int c = 0; c < Cg; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const int phase = i * g->dh % g->sh * g->sw + j * g->dw % g->sw;
                rows[k++] = (int)((size_t)c * q->chan + (size_t)phase * plane +
                                  (size_t)(i * g->dh / g->sh) * q->Wq + (size_t)(j * g->dw / g->sw));
            }
}

/* Valid q in [0, n) for reading row[off + q * stride] of a row of W floats: [*lo, *hi). */
static void valid_range(int n, int off, int stride, int W, int *lo, int *hi)
{
    const int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    const int b = W - 1 - off < 0 ? 0 : (W - 1 - off) / stride + 1;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
    if (*hi < *lo)
        *hi = *lo;
}

/* ---- block gathers ----
 * The common step of im2col and of building a depthwise plane: for each of `rows` rows,
 *   dst[r * dld + q] = src[r * sld + off + q * s]  for q in [lo, hi),  0 for the rest of [0, n).
 * Rows are short (7 to 112 floats) and many, so the loops run column chunk by column chunk with
 * the chunk's masks and load kind decided once for all rows. Only in-bounds elements of src are
 * ever read (masked loads and gathers at the edges). */

/* src + i without forming an out-of-bounds pointer in C terms: for masked loads whose first
 * lanes (masked off, never accessed) would lie before src. */
static inline const float *at(const float *src, ptrdiff_t i)
{
    return (const float *)((uintptr_t)src + (uintptr_t)(i * (ptrdiff_t)sizeof(float)));
}

SB_INLINE void gather_block_generic(float *dst, ptrdiff_t dld, const float *src, ptrdiff_t sld,
                                    int rows, int off, int n, int lo, int hi, int s)
{
    for (int r = 0; r < rows; r++) {
        float *d = dst + r * dld;
        const float *row = src + r * sld;
        int q = 0;
        for (; q < lo; q++)
            d[q] = 0.0f;
        for (; q < hi; q++)
            d[q] = row[off + q * s];
        for (; q < n; q++)
            d[q] = 0.0f;
    }
}

#ifdef SB_X86

SB_INLINE SB_TGT512 __mmask16 mask_range16(int a, int b)
{
    a = a < 0 ? 0 : a > 16 ? 16 : a;
    b = b < 0 ? 0 : b > 16 ? 16 : b;
    const unsigned lo = (1u << a) - 1, hi = (1u << b) - 1;
    return (__mmask16)(hi & ~lo);
}

/* One 16-column chunk starting at column q, for every row. */
SB_INLINE SB_TGT512 void gather_chunk16(float *dst, ptrdiff_t dld, const float *src, ptrdiff_t sld,
                                        int rows, int first, int s, __mmask16 ok, __mmask16 st)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    if (!ok) {
        for (int r = 0; r < rows; r++)
            _mm512_mask_storeu_ps(dst + r * dld, st, _mm512_setzero_ps());
    } else if (s == 1) {
        for (int r = 0; r < rows; r++)
            _mm512_mask_storeu_ps(dst + r * dld, st,
                                  _mm512_maskz_loadu_ps(ok, at(src, r * sld + first)));
    } else if (s == 2) {
        /* Lane l is element 2l of a 32-float window: load the valid elements, keep the even. */
        const int a = __builtin_ctz(ok), b = 32 - __builtin_clz(ok);
        const __mmask16 m0 = mask_range16(2 * a, 2 * b - 1);
        const __mmask16 m1 = mask_range16(2 * a - 16, 2 * b - 17);
        const __m512i even = _mm512_slli_epi32(lane, 1);
        for (int r = 0; r < rows; r++) {
            const __m512 w0 = _mm512_maskz_loadu_ps(m0, at(src, r * sld + first));
            const __m512 w1 = _mm512_maskz_loadu_ps(m1, at(src, r * sld + first + 16));
            _mm512_mask_storeu_ps(dst + r * dld, st, _mm512_permutex2var_ps(w0, even, w1));
        }
    } else {
        const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(first),
                                             _mm512_mullo_epi32(lane, _mm512_set1_epi32(s)));
        for (int r = 0; r < rows; r++)
            _mm512_mask_storeu_ps(
                dst + r * dld, st,
                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, idx, src + r * sld, 4));
    }
}

SB_INLINE SB_TGT512 void gather_block_avx512(float *dst, ptrdiff_t dld, const float *src,
                                             ptrdiff_t sld, int rows, int off, int n, int lo,
                                             int hi, int s)
{
    for (int q = 0; q < n; q += 16)
        gather_chunk16(dst + q, dld, src, sld, rows, off + q * s, s, mask_range16(lo - q, hi - q),
                       mask_range16(0, n - q));
}

SB_INLINE SB_TGT256 __m256i mask_range8(int a, int b)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i ge_a = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(a - 1));
    const __m256i lt_b = _mm256_cmpgt_epi32(_mm256_set1_epi32(b), lane);
    return _mm256_and_si256(ge_a, lt_b);
}

SB_INLINE SB_TGT256 void gather_chunk8(float *dst, ptrdiff_t dld, const float *src, ptrdiff_t sld,
                                       int rows, int first, int s, __m256i ok, __m256i st)
{
    const int bits = _mm256_movemask_ps(_mm256_castsi256_ps(ok));
    if (!bits) {
        for (int r = 0; r < rows; r++)
            _mm256_maskstore_ps(dst + r * dld, st, _mm256_setzero_ps());
    } else if (s == 1) {
        for (int r = 0; r < rows; r++)
            _mm256_maskstore_ps(dst + r * dld, st,
                                _mm256_maskload_ps(at(src, r * sld + first), ok));
    } else {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(first),
                                             _mm256_mullo_epi32(lane, _mm256_set1_epi32(s)));
        for (int r = 0; r < rows; r++)
            _mm256_maskstore_ps(dst + r * dld, st,
                                _mm256_mask_i32gather_ps(_mm256_setzero_ps(), src + r * sld, idx,
                                                         _mm256_castsi256_ps(ok), 4));
    }
}

SB_INLINE SB_TGT256 void gather_block_avx2(float *dst, ptrdiff_t dld, const float *src,
                                           ptrdiff_t sld, int rows, int off, int n, int lo, int hi,
                                           int s)
{
    for (int q = 0; q < n; q += 8)
        gather_chunk8(dst + q, dld, src, sld, rows, off + q * s, s, mask_range8(lo - q, hi - q),
                      mask_range8(0, n - q));
}

#endif /* SB_X86 */

/* dw_fill_*: one input channel into the phase-split padded plane; padded rows [pt, pt + H) hold
 * the image rows. im2col_row_*: row r = (c, i, j) of the column matrix, for all output rows;
 * output rows [oh0, oh1) read image rows oh * sh - pt + i * dh, the others are zero. */
#define SB_FILLERS(SUFFIX, TGT)                                                                    \
    TGT static void dw_fill_##SUFFIX(const sb_conv_geom *g, const dw_geom *d, const float *xc,     \
                                     float *plane)                                                 \
    {                                                                                              \
        const size_t row_n = (size_t)d->s * d->Wq;                                                 \
        const int r0 = g->pt < d->Hp ? g->pt : d->Hp;                                              \
        const int r1 = g->pt + g->H < d->Hp ? g->pt + g->H : d->Hp;                                \
        memset(plane, 0, sizeof(float) * row_n * (size_t)r0);                                      \
        memset(plane + row_n * (size_t)r1, 0, sizeof(float) * row_n * (size_t)(d->Hp - r1));       \
        for (int p = 0; r1 > r0 && p < d->s; p++) {                                                \
            int lo, hi;                                                                            \
            valid_range(d->Wq, p - g->pl, d->s, g->W, &lo, &hi);                                   \
            gather_block_##SUFFIX(plane + row_n * (size_t)r0 + (size_t)p * d->Wq,                  \
                                  (ptrdiff_t)row_n, xc + (size_t)(r0 - g->pt) * g->W, g->W,        \
                                  r1 - r0, p - g->pl, d->Wq, lo, hi, d->s);                        \
        }                                                                                          \
    }                                                                                              \
    TGT static void im2col_row_##SUFFIX(const sb_conv_geom *g, int r, const float *x, float *dst)  \
    {                                                                                              \
        const int c = r / (g->kh * g->kw), i = r / g->kw % g->kh, j = r % g->kw;                   \
        const int off = j * g->dw - g->pl, top = g->pt - i * g->dh;                                \
        int lo, hi, oh0, oh1;                                                                      \
        valid_range(g->OW, off, g->sw, g->W, &lo, &hi);                                            \
        valid_range(g->OH, -top, g->sh, g->H, &oh0, &oh1);                                         \
        memset(dst, 0, sizeof(float) * (size_t)oh0 * g->OW);                                       \
        memset(dst + (size_t)oh1 * g->OW, 0, sizeof(float) * (size_t)(g->OH - oh1) * g->OW);       \
        if (oh1 > oh0)                                                                             \
            gather_block_##SUFFIX(dst + (size_t)oh0 * g->OW, g->OW,                                \
                                  x + ((size_t)c * g->H + (size_t)(oh0 * g->sh - top)) * g->W,     \
                                  (ptrdiff_t)g->sh * g->W, oh1 - oh0, off, g->OW, lo, hi, g->sw);  \
    }                                                                                              \
    TGT static void phase_fill_##SUFFIX(const sb_conv_geom *g, const phase_geom *q, int pr,       \
                                        int pc, const float *xc, float *dst)                       \
    {                                                                                              \
        int r0, r1, lo, hi;                                                                        \
        valid_range(q->Hq, pr - g->pt, g->sh, g->H, &r0, &r1);                                     \
        valid_range(q->Wq, pc - g->pl, g->sw, g->W, &lo, &hi);                                     \
        memset(dst, 0, sizeof(float) * (size_t)r0 * q->Wq);                                        \
        memset(dst + (size_t)r1 * q->Wq, 0, sizeof(float) * (size_t)(q->Hq - r1) * q->Wq);         \
        if (r1 > r0)                                                                               \
            gather_block_##SUFFIX(dst + (size_t)r0 * q->Wq, q->Wq,                                 \
                                  xc + (size_t)(r0 * g->sh + pr - g->pt) * g->W,                   \
                                  (ptrdiff_t)g->sh * g->W, r1 - r0, pc - g->pl, q->Wq, lo, hi,     \
                                  g->sw);                                                          \
    }

#define SB_NO_TARGET
SB_FILLERS(generic, SB_NO_TARGET)
#ifdef SB_X86
SB_FILLERS(avx512, SB_TGT512)
SB_FILLERS(avx2, SB_TGT256)
#endif

/* Walks the taps in (i, j) order with `off` = their offset in the plane relative to the
 * output's base; column phase and index advance without a division per tap. */
#define DW_FOR_TAPS(g, d, off, BODY)                                                               \
    for (int i_ = 0; i_ < (g)->kh; i_++) {                                                         \
        const size_t roff_ = (size_t)i_ * (g)->dh * (d)->s * (d)->Wq;                              \
        int jq_ = 0, jr_ = 0;                                                                      \
        for (int j_ = 0; j_ < (g)->kw; j_++) {                                                     \
            const size_t off = roff_ + (size_t)jr_ * (d)->Wq + (size_t)jq_;                        \
            const int tap = i_ * (g)->kw + j_;                                                     \
            BODY;                                                                                  \
            jq_ += (g)->dw / (d)->s;                                                               \
            jr_ += (g)->dw % (d)->s;                                                               \
            if (jr_ >= (d)->s) {                                                                   \
                jr_ -= (d)->s;                                                                     \
                jq_++;                                                                             \
            }                                                                                      \
        }                                                                                          \
    }

static inline size_t dw_base(const sb_conv_geom *g, const dw_geom *d, int oh, int ow)
{
    return (size_t)oh * g->sh * d->s * d->Wq + (size_t)ow;
}

/* One output channel: y[OH][OW] = chain over taps + bias (before the activation). */
static void dw_chan_generic(const sb_conv_geom *g, const dw_geom *d, const float *plane,
                            const float *w, const float *bias, float *y)
{
    for (int oh = 0; oh < g->OH; oh++) {
        for (int ow = 0; ow < g->OW; ow++) {
            const float *b = plane + dw_base(g, d, oh, ow);
            float acc = 0.0f;
            DW_FOR_TAPS(g, d, off, acc += w[tap] * b[off])
            y[(size_t)oh * g->OW + ow] = bias ? acc + *bias : acc;
        }
    }
}

#ifdef SB_X86

/* The vector kernels work on DW_UNROLL output vectors at a time, taken in (row, column chunk)
 * order across rows, so that 7- or 14-wide outputs still keep several FMA chains in flight.
 * Past the last item the group repeats it with its store masked off. */
/* clang-format off */
#define DW_KERNEL(NAME, TGT, VT, V, MASKT, MASK, SETZERO, SET1, LOADU, FMADD, ADD, STORE)          \
    TGT static void NAME(const sb_conv_geom *g, const dw_geom *d, const float *plane,              \
                         const float *w, const float *bias, float *y)                              \
    {                                                                                              \
        const int nch = (g->OW + V - 1) / V, items = g->OH * nch;                                  \
        int oh = 0, ch = 0; /* the next item */                                                    \
        for (int it = 0; it < items; it += DW_UNROLL) {                                            \
            const float *base[DW_UNROLL];                                                          \
            float *out[DW_UNROLL];                                                                 \
            MASKT mk[DW_UNROLL];                                                                   \
            VT acc[DW_UNROLL];                                                                     \
            _Pragma("GCC unroll 4") for (int u = 0; u < DW_UNROLL; u++) {                          \
                acc[u] = SETZERO();                                                                \
                if (it + u >= items) {                                                             \
                    base[u] = base[0], out[u] = out[0], mk[u] = MASK(0);                           \
                    continue;                                                                      \
                }                                                                                  \
                const int ow = ch * V;                                                             \
                base[u] = plane + dw_base(g, d, oh, ow);                                           \
                out[u] = y + (size_t)oh * g->OW + ow;                                              \
                mk[u] = MASK(g->OW - ow);                                                          \
                if (++ch == nch)                                                                   \
                    ch = 0, oh++;                                                                  \
            }                                                                                      \
            DW_FOR_TAPS(g, d, off, {                                                               \
                const VT wv = SET1(w[tap]);                                                        \
                _Pragma("GCC unroll 4") for (int u = 0; u < DW_UNROLL; u++)                        \
                    acc[u] = FMADD(wv, LOADU(base[u] + off), acc[u]);                              \
            })                                                                                     \
            _Pragma("GCC unroll 4") for (int u = 0; u < DW_UNROLL; u++) {                          \
                VT v = bias ? ADD(acc[u], SET1(*bias)) : acc[u];                                   \
                STORE(out[u], mk[u], v);                                                           \
            }                                                                                      \
        }                                                                                          \
    }

/* clang-format on */

SB_TGT512 static inline __mmask16 dw_mask512(int n)
{
    return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1);
}

SB_TGT256 static inline __m256i dw_mask256(int n)
{
    n = n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

SB_TGT512 static inline void dw_store512(float *p, __mmask16 m, __m512 v)
{
    _mm512_mask_storeu_ps(p, m, v);
}

SB_TGT256 static inline void dw_store256(float *p, __m256i m, __m256 v)
{
    _mm256_maskstore_ps(p, m, v);
}

DW_KERNEL(dw_chan_avx512, SB_TGT512, __m512, 16, __mmask16, dw_mask512, _mm512_setzero_ps,
          _mm512_set1_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_add_ps, dw_store512)
DW_KERNEL(dw_chan_avx2, SB_TGT256, __m256, 8, __m256i, dw_mask256, _mm256_setzero_ps,
          _mm256_set1_ps, _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_add_ps, dw_store256)

#endif /* SB_X86 */

/* The per-ISA pieces, chosen from sb_kernels_isa() so that GEMM and convolution always agree. */
typedef struct conv_isa {
    void (*dw_fill)(const sb_conv_geom *g, const dw_geom *d, const float *xc, float *plane);
    void (*dw_chan)(const sb_conv_geom *g, const dw_geom *d, const float *plane, const float *w,
                    const float *bias, float *y);
    void (*im2col_row)(const sb_conv_geom *g, int r, const float *x, float *dst);
    void (*phase_fill)(const sb_conv_geom *g, const phase_geom *q, int pr, int pc, const float *xc,
                       float *dst);
} conv_isa;

static const conv_isa *conv_isa_get(void)
{
    static const conv_isa generic = {dw_fill_generic, dw_chan_generic, im2col_row_generic,
                                     phase_fill_generic};
#ifdef SB_X86
    static const conv_isa avx512 = {dw_fill_avx512, dw_chan_avx512, im2col_row_avx512,
                                    phase_fill_avx512};
    static const conv_isa avx2 = {dw_fill_avx2, dw_chan_avx2, im2col_row_avx2, phase_fill_avx2};
    const char *isa = sb_kernels_isa();
    if (strcmp(isa, "avx512") == 0)
        return &avx512;
    if (strcmp(isa, "avx2") == 0)
        return &avx2;
#endif
    return &generic;
}

/* One image. par: spread channels over the team (each thread its own plane in scratch). */
static void dw_image(const sb_conv_geom *g, const float *x, const float *w, const float *bias,
                     const sb_act *act, float *y, float *scratch, int par)
{
    const dw_geom d = dw_geom_of(g);
    const size_t plane_n = dw_plane_floats(g), out_n = (size_t)g->OH * g->OW;
    const size_t in_n = (size_t)g->H * g->W, taps = (size_t)g->kh * g->kw;
    const int mult = g->M / g->C;
    const conv_isa *isa = conv_isa_get();
    par = par && sb_fork((double)g->M * out_n * taps, DW_PAR_MIN);
    SB_FOR(par, int, c, g->C, {
        /* serial: scratch already is this thread's own slice */
        float *plane = scratch + (size_t)(par ? omp_get_thread_num() : 0) * plane_n;
        isa->dw_fill(g, &d, x + (size_t)c * in_n, plane);
        for (int q = 0; q < mult; q++) {
            const int m = c * mult + q;
            float *ym = y + (size_t)m * out_n;
            isa->dw_chan(g, &d, plane, w + (size_t)m * taps, bias ? bias + m : NULL, ym);
            if (act)
                sb_act_apply_n(act, ym, out_n);
        }
    });
}

/* ---- im2col + GEMM ---- */

/* cols[(c*kh + i)*kw + j][oh*OW + ow] = x[c][oh*sh - pt + i*dh][ow*sw - pl + j*dw], or 0. */
static void im2col(const sb_conv_geom *g, int Cg, const float *x, float *cols, int par)
{
    const int rows = Cg * g->kh * g->kw;
    const size_t N = (size_t)g->OH * g->OW;
    const conv_isa *isa = conv_isa_get();
    par = par && sb_fork((double)rows * N, CONV_PAR_MIN);
    SB_FOR(par, int, r, rows, isa->im2col_row(g, r, x, cols + (size_t)r * N););
}

static size_t im2col_floats(const sb_conv_geom *g)
{
    return (size_t)(g->C / g->group) * g->kh * g->kw * g->OH * g->OW;
}

static sb_epilogue conv_epilogue(const float *bias, const sb_act *act)
{
    return (sb_epilogue){
        .bias_kind = bias ? SB_BIAS_ROW : SB_BIAS_NONE,
        .bias = bias,
        .alpha = 1.0f,
        .act = act ? *act : (sb_act){SB_ACT_NONE, 0.0f, 0.0f},
    };
}

/* One image through GEMM, group by group. par: im2col spreads over threads (sb_sgemm decides
 * for itself from omp_in_parallel). */
static void gemm_image(const sb_conv_geom *g, conv_kind kind, const float *x, const float *w,
                       const float *packed, const sb_csr *sw, const float *bias,
                       const sb_act *act, float *y,
                       float *cols, int par)
{
    const int Cg = g->C / g->group, Mg = g->M / g->group;
    const int K = Cg * g->kh * g->kw, N = g->OH * g->OW;
    for (int gi = 0; gi < g->group; gi++) {
        const float *xg = x + (size_t)gi * Cg * g->H * g->W;
        const float *B = xg;
        if (kind == CONV_IM2COL) {
            im2col(g, Cg, xg, cols, par);
            B = cols;
        }
        sb_epilogue ep = conv_epilogue(bias ? bias + (size_t)gi * Mg : NULL, act);
        float *yg = y + (size_t)gi * Mg * N;
        if (sw)
            sb_spmm(sw, gi * Mg, Mg, N, B, N, yg, N, &ep);
        else if (packed)
            sb_sgemm_prepacked(Mg, N, K, packed + (size_t)gi * sb_sgemm_packed_a_floats(Mg, K), B,
                               N, yg, N, &ep);
        else
            sb_sgemm(0, 0, Mg, N, K, w + (size_t)gi * Mg * K, K, B, N, yg, N, &ep);
    }
}

/* Scratch of the implicit GEMM for one image: the planes of one group, the GEMM's output when
 * it has dropped columns, then the row offsets (ints). */
static size_t implicit_floats(const sb_conv_geom *g)
{
    const phase_geom q = phase_geom_of(g);
    const size_t Cg = (size_t)(g->C / g->group), Mg = (size_t)(g->M / g->group);
    const size_t out = q.Wq == g->OW ? 0 : Mg * (size_t)q.N;
    return Cg * q.chan + out + Cg * (size_t)(g->kh * g->kw);
}

static void phase_fill_channels(const sb_conv_geom *g, const phase_geom *q, int Cg,
                                const float *xg, float *planes, int par)
{
    const conv_isa *isa = conv_isa_get();
    const size_t plane = (size_t)q->Hq * q->Wq, in_n = (size_t)g->H * g->W;
    par = par && sb_fork((double)Cg * q->chan, CONV_PAR_MIN);
    /* One item per (channel, phase): a 3-channel stride-2 stem has 12 to share, not 3. */
    const int phases = g->sh * g->sw;
    SB_FOR(par, int, t, Cg * phases, {
        const int c = t / phases, ph = t % phases;
        if (q->used >> ph & 1u)
            isa->phase_fill(g, q, ph / g->sw, ph % g->sw, xg + (size_t)c * in_n,
                            planes + (size_t)c * q->chan + (size_t)ph * plane);
    });
}

/* y[m][oh][ow] = out[m][oh * Wq + ow]: drops the columns past each output row. */
static void drop_columns(const sb_conv_geom *g, const phase_geom *q, int Mg, const float *out,
                         float *y, int par)
{
    par = par && sb_fork((double)Mg * g->OH * g->OW, CONV_PAR_MIN);
    /* Rows are short (7 to 112 floats): an inlined loop, not a memcpy call per row. */
    SB_FOR(par, int, m, Mg, {
        for (int oh = 0; oh < g->OH; oh++) {
            float *restrict d = y + ((size_t)m * g->OH + oh) * g->OW;
            const float *restrict src = out + (size_t)m * q->N + (size_t)oh * q->Wq;
            for (int ow = 0; ow < g->OW; ow++)
                d[ow] = src[ow];
        }
    });
}

/* Weights dense (w or packed) or CSR (sw, with sw->off): the taps' rows come from `rows`. */
static void implicit_gemm(const sb_conv_geom *g, const phase_geom *q, int gi, const float *w,
                          const float *packed, const sb_csr *sw, const float *planes,
                          const int *rows, const sb_epilogue *ep, float *dst)
{
    const int Mg = g->M / g->group, K = g->C / g->group * g->kh * g->kw;
    if (sw) {
        sb_csr taps = *sw;
        taps.col = sw->off; /* B + col * 1: the tap's row in the planes */
        sb_spmm(&taps, gi * Mg, Mg, q->N, planes, 1, dst, q->N, ep);
        return;
    }
    const float *pa = packed ? packed + (size_t)gi * sb_sgemm_packed_a_floats(Mg, K) : NULL;
    sb_sgemm_rows(Mg, q->N, K, w ? w + (size_t)gi * Mg * K : NULL, K, pa, planes, rows, dst,
                  q->N, ep);
}

bool sb_conv2d_sparse_prepare(const sb_conv_geom *g, sb_csr *w)
{
    if (conv_kind_of(g) != CONV_IMPLICIT || w->off)
        return true;
    const phase_geom q = phase_geom_of(g);
    const int K = g->C / g->group * g->kh * g->kw;
    int *rows = malloc(sizeof *rows * (size_t)K);
    w->off = malloc(sizeof *w->off * ((size_t)w->nnz + 1));
    if (!rows || !w->off) {
        free(rows);
        free(w->off);
        w->off = NULL;
        return false;
    }
    phase_rows(g, &q, g->C / g->group, rows);
    for (int64_t e = 0; e < w->nnz; e++)
        w->off[e] = rows[w->col[e]];
    free(rows);
    return true;
}

static void implicit_image(const sb_conv_geom *g, const float *x, const float *w,
                           const float *packed, const sb_csr *sw, const float *bias,
                           const sb_act *act, float *y, float *scratch, int par)
{
    const phase_geom q = phase_geom_of(g);
    const int Cg = g->C / g->group, Mg = g->M / g->group;
    const int N = g->OH * g->OW;
    const bool direct = q.Wq == g->OW; /* no dropped columns: the GEMM writes y itself */
    float *planes = scratch, *out = planes + (size_t)Cg * q.chan;
    int *rows = (int *)(out + (direct ? 0 : (size_t)Mg * q.N));
    phase_rows(g, &q, Cg, rows);
    for (int gi = 0; gi < g->group; gi++) {
        phase_fill_channels(g, &q, Cg, x + (size_t)gi * Cg * g->H * g->W, planes, par);
        sb_epilogue ep = conv_epilogue(bias ? bias + (size_t)gi * Mg : NULL, act);
        float *yg = y + (size_t)gi * Mg * N;
        implicit_gemm(g, &q, gi, w, packed, sw, planes, rows, &ep, direct ? yg : out);
        if (!direct)
            drop_columns(g, &q, Mg, out, yg, par);
    }
}

/* ---- entry points ---- */

/* Scratch for one image processed by one thread, and how many such slices a run needs. */
static size_t slice_floats(const sb_conv_geom *g, conv_kind kind)
{
    switch (kind) {
    case CONV_DEPTHWISE:
        return dw_plane_floats(g);
    case CONV_IM2COL:
        return im2col_floats(g);
    case CONV_IMPLICIT: { /* the sparse kernel runs the same geometry through im2col */
        const size_t a = implicit_floats(g), b = im2col_floats(g);
        return a > b ? a : b;
    }
    default:
        return 0;
    }
}

size_t sb_conv2d_scratch(const sb_conv_geom *g, int n, int threads)
{
    if (threads <= 0)
        threads = omp_get_max_threads();
    const conv_kind kind = conv_kind_of(g);
    /* Depthwise uses one plane per thread both when threads take whole images and when they
     * share an image's channels; im2col needs one buffer per concurrently processed image. */
    size_t slices = (size_t)threads;
    if (kind == CONV_IM2COL || kind == CONV_IMPLICIT)
        slices = (size_t)(n < threads ? (n < 1 ? 1 : n) : threads);
    return slices * slice_floats(g, kind);
}

size_t sb_conv2d_packed_floats(const sb_conv_geom *g)
{
    if (conv_kind_of(g) == CONV_DEPTHWISE)
        return 0;
    const int Mg = g->M / g->group, K = g->C / g->group * g->kh * g->kw;
    return (size_t)g->group * sb_sgemm_packed_a_floats(Mg, K);
}

void sb_conv2d_pack(const sb_conv_geom *g, const float *w, float *packed)
{
    const int Mg = g->M / g->group, K = g->C / g->group * g->kh * g->kw;
    for (int gi = 0; gi < g->group; gi++)
        sb_sgemm_pack_a(Mg, K, w + (size_t)gi * Mg * K, K,
                        packed + (size_t)gi * sb_sgemm_packed_a_floats(Mg, K));
}

static void conv_image(const sb_conv_geom *g, conv_kind kind, const float *x, const float *w,
                       const float *packed, const sb_csr *sw, const float *bias,
                       const sb_act *act, float *y, float *scratch, int par)
{
    if (kind == CONV_DEPTHWISE)
        dw_image(g, x, w, bias, act, y, scratch, par);
    else if (kind == CONV_IMPLICIT && (!sw || sw->off))
        implicit_image(g, x, w, packed, sw, bias, act, y, scratch, par);
    else /* CSR without tap offsets (not prepared) reads im2col */
        gemm_image(g, kind == CONV_IMPLICIT ? CONV_IM2COL : kind, x, w, packed, sw, bias, act, y,
                   scratch, par);
}

/* Weights as dense (w), dense prepacked (packed, with w), or CSR (sw alone; never depthwise). */
static void conv2d(const sb_conv_geom *g, int n, const float *x, const float *w,
                   const float *packed, const sb_csr *sw, const float *bias, const sb_act *act,
                   float *y, float *scratch)
{
    if (n <= 0 || g->M <= 0 || g->OH <= 0 || g->OW <= 0)
        return;
    const conv_kind kind = conv_kind_of(g);
    const size_t slice = slice_floats(g, kind);
    const size_t in_n = (size_t)g->C * g->H * g->W, out_n = (size_t)g->M * g->OH * g->OW;
    if (act && act->kind == SB_ACT_NONE)
        act = NULL;
    const int T = omp_in_parallel() ? 1 : omp_get_max_threads();

    if (T > 1 && n >= T) {
        /* Whole images per thread: no synchronisation inside a layer; GEMM runs serially
         * because it finds itself inside a parallel region. Dynamic: an image is much more
         * work than taking it from the queue, and a thread that loses its core to another
         * process then does not hold up the layer. */
#pragma omp parallel for num_threads(T) schedule(dynamic)
        for (int i = 0; i < n; i++) {
            float *s = scratch ? scratch + (size_t)omp_get_thread_num() * slice : NULL;
            conv_image(g, kind, x + i * in_n, w, packed, sw, bias, act, y + i * out_n, s, 0);
        }
        return;
    }
    for (int i = 0; i < n; i++)
        conv_image(g, kind, x + i * in_n, w, packed, sw, bias, act, y + i * out_n, scratch, T > 1);
}

void sb_conv2d(const sb_conv_geom *g, int n, const float *x, const float *w, const float *bias,
               const sb_act *act, float *y, float *scratch)
{
    conv2d(g, n, x, w, NULL, NULL, bias, act, y, scratch);
}

void sb_conv2d_ex(const sb_conv_geom *g, int n, const float *x, const float *w,
                  const float *packed, const float *bias, const sb_act *act, float *y,
                  float *scratch)
{
    conv2d(g, n, x, w, packed, NULL, bias, act, y, scratch);
}

bool sb_conv2d_sparse_ok(const sb_conv_geom *g)
{
    return conv_kind_of(g) != CONV_DEPTHWISE;
}

void sb_conv2d_sparse(const sb_conv_geom *g, int n, const float *x, const sb_csr *w,
                      const float *bias, const sb_act *act, float *y, float *scratch)
{
    conv2d(g, n, x, NULL, NULL, w, bias, act, y, scratch);
}
