/* Integer convolution and Gemm: u8 activations x s8 weights summed in int32, for AVX-512 VNNI
 * (vpdpbusd), AVX2 (vpmaddwd on values widened to 16 bits: no saturation anywhere) and portable
 * C, chosen at run time.
 *
 * A layer is a GEMM C[M x N] = W[M x K] * X[K x N] per image and group (N = output positions;
 * for a Gemm node, N = the batch). X is built as u8 rows (im2col, padding = the input's zero
 * point), then packed in panels of NR columns holding 4 consecutive k of a column in 4 bytes:
 * exactly the operand vpdpbusd multiplies with 4 weights broadcast from W's packed panel. Every
 * tile's int32 sums are exact, so blocking, threads and ISA never change a bit; the epilogue
 * (zero-point correction, scale, bias, activation, requantisation) is the same float sequence
 * everywhere. */
#include "kernels/qkernels.h"
#include "par.h"

#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SB_X86 1
#define SB_TGTVNNI __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma")))
#define SB_TGT512 __attribute__((target("avx512f,avx512bw,avx2,fma")))
#define SB_TGT256 __attribute__((target("avx2,fma")))
#endif

#define SB_INLINE static inline __attribute__((always_inline))

/* Below this many multiply-adds a fork/join costs more than the second thread saves. */
#define Q_PAR_MIN (1L << 17)
#define Q_MAX_MR 8
#define Q_MAX_NR 48

/* ---- run-time ISA choice ---- */

static sb_qisa qisa_probe(void)
{
    sb_qisa best = SB_QISA_REF;
#ifdef SB_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
        best = SB_QISA_VNNI;
    else if (__builtin_cpu_supports("avx2"))
        best = SB_QISA_AVX2;
#endif
    const char *want = getenv("SB_ISA"); /* only ever lowers the level */
    if (want && strcmp(want, "generic") == 0)
        best = SB_QISA_REF;
    else if (want && strcmp(want, "avx2") == 0 && best > SB_QISA_AVX2)
        best = SB_QISA_AVX2;
    return best;
}

sb_qisa sb_qisa_detect(void)
{
    static _Atomic int level = -1;
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        l = (int)qisa_probe();
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return (sb_qisa)l;
}

const char *sb_qisa_name(sb_qisa isa)
{
    static const char *const names[] = {"int8-ref", "int8-avx2", "int8-vnni"};
    return names[isa];
}

/* ---- per-ISA shapes ---- */

typedef void (*qkern_fn)(int mr, int nc, int Kq, const void *a, const uint8_t *b, int32_t *c);

typedef struct qisa_desc {
    int mr, nr;   /* micro-tile: rows of W, columns of X */
    size_t elem;  /* bytes per packed weight (the AVX2 kernel takes them widened) */
    qkern_fn kern;
} qisa_desc;

/* Portable reference: c[i][j] = sum over the panel's quads. */
static void kern_ref(int mr, int nc, int Kq, const void *av, const uint8_t *b, int32_t *c)
{
    const int8_t *a = av;
    enum { MR = 4, NR = 8 };
    int32_t acc[MR][NR] = {{0}};
    for (int q = 0; q < Kq; q++) {
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                for (int t = 0; t < 4; t++)
                    acc[i][j] += (int32_t)a[i * 4 + t] * (int32_t)b[j * 4 + t];
        a += MR * 4;
        b += NR * 4;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nc; j++)
            c[i * Q_MAX_NR + j] = acc[i][j];
}

#ifdef SB_X86

/* VNNI: 8 rows x 48 columns = 24 zmm accumulators; per quad 3 loads of X, 8 broadcasts of 4
 * weights, 24 vpdpbusd. mr and nv are constants at each call site (the switch below). */
#define VN_MR 8
#define VN_NR 48

SB_INLINE SB_TGTVNNI void vnni_body(const int mr, const int nv, int Kq, const int8_t *a,
                                    const uint8_t *b, int32_t *c)
{
    __m512i acc[VN_MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 3; v++)
            acc[i][v] = _mm512_setzero_si512();
    for (int q = 0; q < Kq; q++) {
        const __m512i b0 = _mm512_loadu_si512(b);
        const __m512i b1 = nv > 1 ? _mm512_loadu_si512(b + 64) : b0;
        const __m512i b2 = nv > 2 ? _mm512_loadu_si512(b + 128) : b0;
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            int32_t w4;
            memcpy(&w4, a + 4 * i, 4);
            const __m512i ai = _mm512_set1_epi32(w4);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], b0, ai);
            if (nv > 1)
                acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], b1, ai);
            if (nv > 2)
                acc[i][2] = _mm512_dpbusd_epi32(acc[i][2], b2, ai);
        }
        a += 4 * VN_MR;
        b += 4 * VN_NR;
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        _mm512_storeu_si512(c + i * Q_MAX_NR, acc[i][0]);
        if (nv > 1)
            _mm512_storeu_si512(c + i * Q_MAX_NR + 16, acc[i][1]);
        if (nv > 2)
            _mm512_storeu_si512(c + i * Q_MAX_NR + 32, acc[i][2]);
    }
}

/* clang-format off */
#define VN_CASE(MR_, NV_) case MR_: vnni_body(MR_, NV_, Kq, a, b, c); break;
#define VN_SWITCH(NV_)                                                                             \
    switch (mr) {                                                                                  \
        VN_CASE(1, NV_) VN_CASE(2, NV_) VN_CASE(3, NV_) VN_CASE(4, NV_)                            \
        VN_CASE(5, NV_) VN_CASE(6, NV_) VN_CASE(7, NV_) VN_CASE(8, NV_)                            \
    }
/* clang-format on */

SB_TGTVNNI static void kern_vnni(int mr, int nc, int Kq, const void *av, const uint8_t *b,
                                 int32_t *c)
{
    const int8_t *a = av;
    if (nc > 32)
        VN_SWITCH(3)
    else if (nc > 16)
        VN_SWITCH(2)
    else
        VN_SWITCH(1)
}

/* AVX2: 6 rows x 8 columns. A quad of 8 columns (32 bytes) is widened to two vectors of 16-bit
 * values (columns 0-3 and 4-7, 4 k each); the 4 weights of a row, pre-widened, are broadcast as
 * 64 bits; vpmaddwd sums pairs into int32 lanes (k0+k1, k2+k3 per column) that are added up
 * across K and folded pairwise at the end. u8 x s8 products of at most 255 x 127: exact. */
#define A2_MR 6
#define A2_NR 8

SB_INLINE SB_TGT256 void avx2_body(const int mr, int Kq, const int16_t *a, const uint8_t *b,
                                   int32_t *c)
{
    __m256i lo[A2_MR], hi[A2_MR];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        lo[i] = hi[i] = _mm256_setzero_si256();
    for (int q = 0; q < Kq; q++) {
        const __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)b));
        const __m256i x1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + 16)));
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            long long w4;
            memcpy(&w4, a + 4 * i, 8);
            const __m256i ai = _mm256_set1_epi64x(w4);
            lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(x0, ai));
            hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(x1, ai));
        }
        a += 4 * A2_MR;
        b += 4 * A2_NR;
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        /* hadd: [c0 c1 c4 c5 | c2 c3 c6 c7]; the 64-bit permute puts them in order. */
        const __m256i s = _mm256_hadd_epi32(lo[i], hi[i]);
        _mm256_storeu_si256((__m256i *)(c + i * Q_MAX_NR),
                            _mm256_permute4x64_epi64(s, _MM_SHUFFLE(3, 1, 2, 0)));
    }
}

SB_TGT256 static void kern_avx2(int mr, int nc, int Kq, const void *av, const uint8_t *b,
                                int32_t *c)
{
    const int16_t *a = av;
    switch (mr) {
    case 1: avx2_body(1, Kq, a, b, c); break;
    case 2: avx2_body(2, Kq, a, b, c); break;
    case 3: avx2_body(3, Kq, a, b, c); break;
    case 4: avx2_body(4, Kq, a, b, c); break;
    case 5: avx2_body(5, Kq, a, b, c); break;
    default: avx2_body(6, Kq, a, b, c); break;
    }
}

#endif /* SB_X86 */

static const qisa_desc qisa_table[] = {
    [SB_QISA_REF] = {4, 8, 1, kern_ref},
#ifdef SB_X86
    [SB_QISA_AVX2] = {A2_MR, A2_NR, 2, kern_avx2},
    [SB_QISA_VNNI] = {VN_MR, VN_NR, 1, kern_vnni},
#endif
};

static const qisa_desc *desc_of(const sb_qconv *q)
{
#ifndef SB_X86
    return &qisa_table[SB_QISA_REF];
#else
    return &qisa_table[q->isa];
#endif
}

/* ---- weights ---- */

typedef struct padded {
    int Hp, Wp;
} padded;

static padded padded_of(const sb_conv_geom *g);

static int row_offsets(sb_qconv *q)
{
    const sb_conv_geom *g = &q->g;
    if (q->is_gemm)
        return 0;
    const padded p = padded_of(g);
    q->mode = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 &&
                      g->pl == 0 && g->OH == g->H && g->OW == g->W
                  ? SB_QMODE_DIRECT
              : g->sh == 1 && g->sw == 1 ? SB_QMODE_WIDE
                                         : SB_QMODE_IM2COL;
    q->roff = malloc(sizeof(size_t) * (size_t)q->Kg);
    if (!q->roff)
        return -1;
    for (int k = 0; k < q->Kg; k++) {
        const int c = k / (g->kh * g->kw), i = k / g->kw % g->kh, j = k % g->kw;
        if (q->mode == SB_QMODE_DIRECT)
            q->roff[k] = (size_t)k * g->H * g->W;
        else if (q->mode == SB_QMODE_WIDE)
            q->roff[k] = ((size_t)c * p.Hp + (size_t)i * g->dh) * p.Wp + (size_t)j * g->dw;
        else
            q->roff[k] = (size_t)k * g->OH * g->OW;
    }
    return 0;
}

int sb_qconv_pack(sb_qconv *q, const int8_t *k)
{
    const qisa_desc *d = desc_of(q);
    const int groups = q->is_gemm ? 1 : q->g.group, M = q->g.M;
    q->Mg = M / groups;
    q->Kg = q->is_gemm ? q->g.C : q->g.C / groups * q->g.kh * q->g.kw;
    q->Kq = (q->Kg + 3) / 4;
    q->Mp = (q->Mg + d->mr - 1) / d->mr;
    q->wpack_group = (size_t)q->Mp * q->Kq * d->mr * 4 * d->elem;
    q->wpack = aligned_alloc(64, (q->wpack_group * groups + 64) & ~(size_t)63);
    q->wsum = malloc(sizeof(int32_t) * (size_t)(M ? M : 1));
    if (!q->wpack || !q->wsum || row_offsets(q))
        return -1;
    memset(q->wpack, 0, q->wpack_group * groups);
    for (int o = 0; o < M; o++) {
        const int gi = o / q->Mg, m = o % q->Mg, mp = m / d->mr, r = m % d->mr;
        char *panel = (char *)q->wpack + gi * q->wpack_group +
                      (size_t)mp * q->Kq * d->mr * 4 * d->elem;
        int32_t sum = 0;
        for (int kk = 0; kk < q->Kg; kk++) {
            const int8_t v = k[(size_t)o * q->Kg + kk];
            const size_t at = ((size_t)(kk / 4) * d->mr + r) * 4 + kk % 4;
            if (d->elem == 1)
                ((int8_t *)panel)[at] = v;
            else
                ((int16_t *)panel)[at] = v;
            sum += v;
        }
        q->wsum[o] = sum;
    }
    return 0;
}

void sb_qconv_release(sb_qconv *q)
{
    free(q->wpack);
    free(q->wsum);
    free(q->scale);
    free(q->bias);
    free(q->roff);
    q->wpack = NULL, q->wsum = NULL, q->scale = NULL, q->bias = NULL, q->roff = NULL;
}

/* ---- activations: quantise, im2col, pack ---- */

static inline uint8_t quant1(float x, float scale, int zp, int qmin, int qmax)
{
    float v = nearbyintf(x / scale) + (float)zp;
    v = v < (float)qmin ? (float)qmin : v > (float)qmax ? (float)qmax : v;
    return (uint8_t)(int)v;
}

#ifdef SB_X86
SB_TGT512 static size_t quantize_avx512(const float *x, size_t n, float scale, int zp, int qmin,
                                        int qmax, uint8_t *y)
{
    const __m512 s = _mm512_set1_ps(scale), big = _mm512_set1_ps(1e9f);
    const __m512i z = _mm512_set1_epi32(zp), lo = _mm512_set1_epi32(qmin);
    const __m512i hi = _mm512_set1_epi32(qmax);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), s);
        v = _mm512_min_ps(_mm512_max_ps(v, _mm512_sub_ps(_mm512_setzero_ps(), big)), big);
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), z);
        q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(y + i, m, q);
    }
    return n;
}

SB_TGT256 static size_t quantize_avx2(const float *x, size_t n, float scale, int zp, int qmin,
                                      int qmax, uint8_t *y)
{
    const __m256 s = _mm256_set1_ps(scale), big = _mm256_set1_ps(1e9f);
    const __m256i z = _mm256_set1_epi32(zp), lo = _mm256_set1_epi32(qmin);
    const __m256i hi = _mm256_set1_epi32(qmax);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        v = _mm256_min_ps(_mm256_max_ps(v, _mm256_sub_ps(_mm256_setzero_ps(), big)), big);
        __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
        q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
        /* 8 int32 in [0, 255] to 8 bytes */
        const __m256i p16 = _mm256_packus_epi32(q, q);            /* per lane: 4 words twice */
        const __m256i p8 = _mm256_packus_epi16(p16, p16);          /* per lane: 4 bytes x4 */
        const int32_t w0 = _mm256_extract_epi32(p8, 0), w1 = _mm256_extract_epi32(p8, 4);
        memcpy(y + i, &w0, 4);
        memcpy(y + i + 4, &w1, 4);
    }
    return i;
}
#endif

void sb_quantize_u8(const float *x, size_t n, float scale, int zp, int qmin, int qmax,
                    uint8_t *y)
{
    size_t i = 0;
#ifdef SB_X86
    const sb_qisa isa = sb_qisa_detect();
    if (isa == SB_QISA_VNNI)
        i = quantize_avx512(x, n, scale, zp, qmin, qmax, y);
    else if (isa == SB_QISA_AVX2)
        i = quantize_avx2(x, n, scale, zp, qmin, qmax, y);
#endif
    for (; i < n; i++)
        y[i] = quant1(x[i], scale, zp, qmin, qmax);
}

/* ---- im2col through a zero-point-padded copy of the input ----
 * The group's channels are copied into planes of Hp x Wp bytes with the zero point around them,
 * so that every row of the column matrix is a branch-free strided copy. Copies run 16 bytes at
 * a time and may write up to 15 bytes past a row (the next row overwrites them; buffers carry
 * Q_SLACK spare bytes) and read up to 31 bytes past one. */
#define Q_SLACK 64

static padded padded_of(const sb_conv_geom *g)
{
    const int rows = (g->OH - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    const int cols = (g->OW - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    padded p = {g->pt + g->H > rows ? g->pt + g->H : rows, g->pl + g->W > cols ? g->pl + g->W : cols};
    return p;
}

static size_t padded_bytes(const sb_conv_geom *g)
{
    const padded p = padded_of(g);
    return ((size_t)(g->C / g->group) * p.Hp * p.Wp + Q_SLACK + p.Wp + 63) & ~(size_t)63;
}

/* exact: write nothing past d[n - 1] (the last output row of a matrix row, whose neighbour
 * another thread may be writing). */
static inline void copy16(uint8_t *d, const uint8_t *s, int n, int exact)
{
    int q = 0;
#ifdef __SSE2__
    for (; q + (exact ? 16 : 1) <= n; q += 16)
        _mm_storeu_si128((__m128i *)(d + q), _mm_loadu_si128((const __m128i *)(s + q)));
#endif
    for (; q < n; q++)
        d[q] = s[q];
}

/* d[q] = s[2q] for q < n */
static inline void copy_even(uint8_t *d, const uint8_t *s, int n)
{
    int q = 0;
#ifdef __SSE2__
    const __m128i lo = _mm_set1_epi16(0xff);
    for (; q + 16 <= n; q += 16) {
        const __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(s + 2 * q)), lo);
        const __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(s + 2 * q + 16)), lo);
        _mm_storeu_si128((__m128i *)(d + q), _mm_packus_epi16(a, b));
    }
#endif
    for (; q < n; q++)
        d[q] = s[2 * q];
}

static void pad_input(const sb_conv_geom *g, const uint8_t *x, uint8_t zp, uint8_t *xp)
{
    const padded p = padded_of(g);
    const int Cg = g->C / g->group;
    memset(xp, zp, (size_t)Cg * p.Hp * p.Wp + Q_SLACK + p.Wp);
    for (int c = 0; c < Cg; c++)
        for (int h = 0; h < g->H; h++)
            memcpy(xp + ((size_t)c * p.Hp + g->pt + h) * p.Wp + g->pl,
                   x + ((size_t)c * g->H + h) * g->W, (size_t)g->W);
}

/* Row r = (c, i, j) of the column matrix: OH*OW bytes. */
static void im2col_row_u8(const sb_conv_geom *g, const padded *p, int r, const uint8_t *xp,
                          uint8_t *dst)
{
    const int c = r / (g->kh * g->kw), i = r / g->kw % g->kh, j = r % g->kw;
    const uint8_t *s = xp + ((size_t)c * p->Hp + i * g->dh) * p->Wp + j * g->dw;
    for (int oh = 0; oh < g->OH; oh++, s += (size_t)g->sh * p->Wp, dst += g->OW) {
        if (g->sw == 1)
            copy16(dst, s, g->OW, oh == g->OH - 1);
        else if (g->sw == 2)
            copy_even(dst, s, g->OW);
        else
            for (int q = 0; q < g->OW; q++)
                dst[q] = s[q * g->sw];
    }
}

/* One panel of NR columns [n0, n0 + nc) of a matrix whose row k starts at base + roff[k]:
 * dst[(q * NR + c) * 4 + t] = row[4q + t][n0 + c], zero past K or nc. */
static void pack_rows(const uint8_t *base, const size_t *roff, int K, int Kq, int n0, int nc,
                      int NR, uint8_t *dst)
{
    for (int q = 0; q < Kq; q++, dst += (size_t)NR * 4) {
        const uint8_t *r[4];
        for (int t = 0; t < 4; t++)
            r[t] = 4 * q + t < K ? base + roff[4 * q + t] + n0 : NULL;
        int c = 0;
#ifdef __SSE2__
        if (r[3])
            for (; c + 8 <= nc; c += 8) {
                const __m128i r0 = _mm_loadl_epi64((const __m128i *)(r[0] + c));
                const __m128i r1 = _mm_loadl_epi64((const __m128i *)(r[1] + c));
                const __m128i r2 = _mm_loadl_epi64((const __m128i *)(r[2] + c));
                const __m128i r3 = _mm_loadl_epi64((const __m128i *)(r[3] + c));
                const __m128i a = _mm_unpacklo_epi8(r0, r1), b = _mm_unpacklo_epi8(r2, r3);
                _mm_storeu_si128((__m128i *)(dst + c * 4), _mm_unpacklo_epi16(a, b));
                _mm_storeu_si128((__m128i *)(dst + c * 4 + 16), _mm_unpackhi_epi16(a, b));
            }
#endif
        for (; c < NR; c++)
            for (int t = 0; t < 4; t++)
                dst[c * 4 + t] = c < nc && r[t] ? r[t][c] : 0;
    }
}

/* The same from a row-per-column matrix (a Gemm's [n][K] input, ld bytes apart). */
static void pack_cols(const uint8_t *x, size_t ld, int K, int Kq, int n0, int nc, int NR,
                      uint8_t *dst)
{
    for (int q = 0; q < Kq; q++, dst += (size_t)NR * 4)
        for (int c = 0; c < NR; c++)
            for (int t = 0; t < 4; t++)
                dst[c * 4 + t] = c < nc && 4 * q + t < K ? x[(size_t)(n0 + c) * ld + 4 * q + t] : 0;
}

/* ---- epilogue ---- */

/* v[j] = (float)(acc[j] - corr) * s + b; compiled per ISA for the vectoriser (ISO C: no
 * contraction into FMA, so every version computes the same bits). */
#define SB_EPI(SUFFIX, TGT)                                                                        \
    TGT static void epi_##SUFFIX(const int32_t *acc, int n, int32_t corr, float s, float b,        \
                                 float *v)                                                         \
    {                                                                                              \
        for (int j = 0; j < n; j++)                                                                \
            v[j] = (float)(acc[j] - corr) * s + b;                                                 \
    }
#define SB_NO_TARGET
SB_EPI(ref, SB_NO_TARGET)
#ifdef SB_X86
SB_EPI(avx512, SB_TGT512)
SB_EPI(avx2, SB_TGT256)
#endif

static void epi_floats(sb_qisa isa, const int32_t *acc, int n, int32_t corr, float s, float b,
                       float *v)
{
#ifdef SB_X86
    if (isa == SB_QISA_VNNI) {
        epi_avx512(acc, n, corr, s, b, v);
        return;
    }
    if (isa == SB_QISA_AVX2) {
        epi_avx2(acc, n, corr, s, b, v);
        return;
    }
#endif
    epi_ref(acc, n, corr, s, b, v);
}

/* Stores n values of output row `row` (float, or requantised u8) at element offset `at`. */
static void store(const sb_qconv *q, const float *v, int n, void *y, size_t at)
{
    if (q->out_u8)
        sb_quantize_u8(v, (size_t)n, q->y_scale, q->y_zp, q->y_qmin, q->y_qmax, (uint8_t *)y + at);
    else
        memcpy((float *)y + at, v, sizeof(float) * (size_t)n);
}

/* Rows [m0, m0 + mr) x columns [n0, n0 + nc) of group gi's output from an int32 tile. With
 * `wide`, column n is output position (n / wide, n % wide) and those past OW are dropped. */
static void epilogue(const sb_qconv *q, int gi, int m0, int mr, int n0, int nc, int wide,
                     const int32_t *tile, void *y)
{
    float tmp[Q_MAX_NR];
    const sb_act *act = q->act.kind == SB_ACT_NONE ? NULL : &q->act;
    const int M = q->g.M, OW = q->g.OW;
    const size_t N = (size_t)q->g.OH * OW;
    for (int i = 0; i < mr; i++) {
        const int o = gi * q->Mg + m0 + i;
        const int32_t corr = q->x_zp * q->wsum[o];
        const bool direct = !q->out_u8 && !q->is_gemm && !wide;
        float *v = direct ? (float *)y + o * N + n0 : tmp;
        epi_floats(q->isa, tile + i * Q_MAX_NR, nc, corr, q->scale[o], q->bias[o], v);
        if (act)
            sb_act_apply_n(act, v, (size_t)nc);
        if (direct)
            continue;
        if (q->is_gemm) {
            for (int j = 0; j < nc; j++)
                store(q, v + j, 1, y, (size_t)(n0 + j) * M + o);
        } else if (!wide) {
            store(q, v, nc, y, o * N + n0);
        } else {
            int oh = n0 / wide, ow = n0 % wide;
            for (int j = 0; j < nc; oh++, ow = 0) {
                const int seg = nc - j < wide - ow ? nc - j : wide - ow;
                if (ow < OW)
                    store(q, v + j, seg < OW - ow ? seg : OW - ow, y, o * N + (size_t)oh * OW + ow);
                j += seg;
            }
        }
    }
}

/* ---- drivers ---- */

static size_t packed_bytes(const sb_qconv *q, int ncols)
{
    const int NR = desc_of(q)->nr;
    const size_t panels = (size_t)(ncols + NR - 1) / NR;
    return (panels * NR * q->Kq * 4 + 63) & ~(size_t)63;
}

/* The GEMM's X for one group of one image. */
typedef struct bsrc {
    const uint8_t *base;
    const size_t *roff; /* row k at base + roff[k]; NULL: a row per column, ld apart (Gemm) */
    size_t ld;
    int ncols;
    int wide; /* see epilogue() */
} bsrc;

/* One group's GEMM: pack X's panels, then every (column panel, row panel) tile. */
static void matrix(const sb_qconv *q, int gi, const bsrc *src, uint8_t *packed, void *y, int par)
{
    const qisa_desc *d = desc_of(q);
    const int ncols = src->ncols, NR = d->nr, MR = d->mr, NP = (ncols + NR - 1) / NR;
    const size_t panel = (size_t)NR * q->Kq * 4;
    par = par && sb_fork((double)q->Mg * ncols * q->Kg, Q_PAR_MIN);
    SB_FOR(par, int, np, NP, {
        const int n0 = np * NR, nc = ncols - n0 < NR ? ncols - n0 : NR;
        if (src->roff)
            pack_rows(src->base, src->roff, q->Kg, q->Kq, n0, nc, NR, packed + np * panel);
        else
            pack_cols(src->base, src->ld, q->Kg, q->Kq, n0, nc, NR, packed + np * panel);
    });
    const char *wg = (const char *)q->wpack + gi * q->wpack_group;
    const size_t wpanel = (size_t)q->Kq * MR * 4 * d->elem;
    SB_FOR(par, int, t, NP * q->Mp, {
        const int np = t / q->Mp, mp = t % q->Mp;
        const int n0 = np * NR, nc = ncols - n0 < NR ? ncols - n0 : NR;
        const int m0 = mp * MR, mr = q->Mg - m0 < MR ? q->Mg - m0 : MR;
        int32_t tile[Q_MAX_MR * Q_MAX_NR] __attribute__((aligned(64)));
        d->kern(mr, nc, q->Kq, wg + mp * wpanel, packed + np * panel, tile);
        epilogue(q, gi, m0, mr, n0, nc, src->wide, tile, y);
    });
}

/* Scratch of one image: [column matrix (im2col mode)] [padded input] [packed panels]. */
static size_t rows_bytes(const sb_qconv *q)
{
    if (q->mode != SB_QMODE_IM2COL)
        return 0;
    return ((size_t)q->Kg * q->g.OH * q->g.OW + Q_SLACK + 63) & ~(size_t)63;
}

static size_t pad_bytes(const sb_qconv *q)
{
    return q->mode == SB_QMODE_DIRECT ? 0 : padded_bytes(&q->g);
}

static int gemm_cols(const sb_qconv *q)
{
    return q->g.OH * (q->mode == SB_QMODE_WIDE ? padded_of(&q->g).Wp : q->g.OW);
}

static void image(const sb_qconv *q, const uint8_t *x, void *y, uint8_t *buf, int par)
{
    const sb_conv_geom *g = &q->g;
    const int Cg = g->C / g->group, N = g->OH * g->OW;
    const size_t in_g = (size_t)Cg * g->H * g->W;
    const padded pd = padded_of(g);
    uint8_t *rows = buf, *xp = buf + rows_bytes(q), *packed = xp + pad_bytes(q);
    bsrc src = {.roff = q->roff, .ncols = gemm_cols(q),
                .wide = q->mode == SB_QMODE_WIDE ? pd.Wp : 0};
    for (int gi = 0; gi < g->group; gi++) {
        const uint8_t *xg = x + gi * in_g;
        src.base = xg;
        if (q->mode != SB_QMODE_DIRECT) {
            pad_input(g, xg, (uint8_t)q->x_zp, xp);
            src.base = xp;
        }
        if (q->mode == SB_QMODE_IM2COL) {
            const bool par_rows = par && sb_fork((double)q->Kg * N, Q_PAR_MIN);
            SB_FOR(par_rows, int, r, q->Kg, im2col_row_u8(g, &pd, r, xp, rows + (size_t)r * N););
            src.base = rows;
        }
        /* the epilogue indexes y by output channel, so each group writes its own rows */
        matrix(q, gi, &src, packed, y, par);
    }
}

static size_t image_bytes(const sb_qconv *q)
{
    return rows_bytes(q) + pad_bytes(q) + packed_bytes(q, gemm_cols(q));
}

size_t sb_qconv_scratch(const sb_qconv *q, int n, int threads)
{
    if (threads <= 0)
        threads = omp_get_max_threads();
    if (q->is_gemm)
        return packed_bytes(q, n) + 64;
    const size_t slices = threads > 1 && n >= threads ? (size_t)threads : 1;
    return slices * image_bytes(q) + 64;
}

void sb_qconv_run(const sb_qconv *q, int n, const uint8_t *x, void *y, void *scratch)
{
    if (n <= 0 || q->g.M <= 0)
        return;
    const int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (q->is_gemm) {
        const bsrc src = {.base = x, .ld = (size_t)q->g.C, .ncols = n};
        matrix(q, 0, &src, scratch, y, T > 1);
        return;
    }
    const sb_conv_geom *g = &q->g;
    const size_t in_n = (size_t)g->C * g->H * g->W, out_n = (size_t)g->M * g->OH * g->OW;
    const size_t ysz = q->out_u8 ? 1 : sizeof(float), slice = image_bytes(q);
    if (T > 1 && n >= T) {
#pragma omp parallel for num_threads(T) schedule(dynamic)
        for (int i = 0; i < n; i++)
            image(q, x + i * in_n, (char *)y + i * out_n * ysz,
                  (uint8_t *)scratch + (size_t)omp_get_thread_num() * slice, 0);
        return;
    }
    for (int i = 0; i < n; i++)
        image(q, x + i * in_n, (char *)y + i * out_n * ysz, scratch, T > 1);
}
