/* Sparse f32 kernels: CSR weights times a dense matrix, SIMD over the dense matrix's columns.
 *
 * Work is cut into tasks of (up to SP_RB rows) x (a block of SP_NB columns); a task runs its
 * rows one by one, each row over micro-tiles of the block, so the block of B (k x SP_NB) stays
 * in L2 while every row of the task reads it. Each output is computed by exactly one micro-tile
 * call whatever the split, so the thread count never changes a result (see sparse.h). */
#include "kernels/sparse.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/simd.h"

#define SP_NB 256 /* columns per block: a multiple of every micro-tile width */
#define SP_RB 16  /* rows per task */
/* Below this many multiply-adds per thread a fork/join costs more than the thread saves. */
#define SP_MACS_PER_THREAD (1L << 16)

sb_csr *sb_csr_from_dense(const float *w, int rows, int cols, ptrdiff_t rs, ptrdiff_t cs)
{
    sb_csr *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->rows = rows;
    a->cols = cols;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            a->nnz += w[r * rs + c * cs] != 0.0f;
    a->rowptr = malloc(((size_t)rows + 1) * sizeof *a->rowptr);
    a->col = malloc(((size_t)a->nnz + 1) * sizeof *a->col);
    a->val = malloc(((size_t)a->nnz + 1) * sizeof *a->val);
    if (!a->rowptr || !a->col || !a->val) {
        sb_csr_free(a);
        return NULL;
    }
    int64_t e = 0;
    for (int r = 0; r < rows; r++) {
        a->rowptr[r] = e;
        for (int c = 0; c < cols; c++) {
            float v = w[r * rs + c * cs];
            if (v != 0.0f) {
                a->col[e] = c;
                a->val[e++] = v;
            }
        }
    }
    a->rowptr[rows] = e;
    return a;
}

void sb_csr_free(sb_csr *a)
{
    if (!a)
        return;
    free(a->rowptr);
    free(a->col);
    free(a->val);
    free(a->off);
    free(a);
}

/* ---- micro-tiles: c[0 .. n) = sum over the row's non-zeros of val * B[col][0 .. n) ---- */

typedef void (*row_fn)(const int32_t *col, const float *val, int64_t nz, const float *B,
                       ptrdiff_t ldb, int n, float *c);

/* Two rows at once (their chains interleaved, each still in its own order): twice the
 * independent multiply-add chains, which the FMA latency needs. */
typedef void (*row2_fn)(const int32_t *col0, const float *val0, int64_t nz0, const int32_t *col1,
                        const float *val1, int64_t nz1, const float *B, ptrdiff_t ldb, int n,
                        float *c0, float *c1);

#define GEN_T 16

/* Separate multiply and add, as the dense generic kernel (ISO C mode: no contraction). */
static void row_generic(const int32_t *col, const float *val, int64_t nz, const float *B,
                        ptrdiff_t ldb, int n, float *c)
{
    float acc[GEN_T] = {0};
    for (int64_t e = 0; e < nz; e++) {
        const float *b = B + (ptrdiff_t)col[e] * ldb;
        const float w = val[e];
        for (int j = 0; j < n; j++)
            acc[j] += w * b[j];
    }
    memcpy(c, acc, (size_t)n * sizeof *c);
}

static void row2_generic(const int32_t *col0, const float *val0, int64_t nz0,
                         const int32_t *col1, const float *val1, int64_t nz1, const float *B,
                         ptrdiff_t ldb, int n, float *c0, float *c1)
{
    row_generic(col0, val0, nz0, B, ldb, n, c0);
    row_generic(col1, val1, nz1, B, ldb, n, c1);
}

/* ROW2_BODY: the two-row kernel for one ISA. VT vector type, MT mask type, W floats per vector,
 * MASK(n) mask of the first n lanes, LOAD(mask, p), STORE(p, mask, v). */
#define ROW2_BODY(VT, MT, W, MASK, SET1, ZERO, LOAD, FMA, STORE)                                   \
    {                                                                                              \
        MT m[2];                                                                                   \
        VT a0[2], a1[2];                                                                           \
        _Pragma("GCC unroll 2") for (int v = 0; v < nv; v++)                                       \
        {                                                                                          \
            m[v] = MASK(n - W * v);                                                                \
            a0[v] = ZERO();                                                                        \
            a1[v] = ZERO();                                                                        \
        }                                                                                          \
        const int64_t both = nz0 < nz1 ? nz0 : nz1;                                                \
        int64_t e = 0;                                                                             \
        for (; e < both; e++) {                                                                    \
            const float *b0 = B + (ptrdiff_t)col0[e] * ldb, *b1 = B + (ptrdiff_t)col1[e] * ldb;    \
            const VT w0 = SET1(val0[e]), w1 = SET1(val1[e]);                                       \
            _Pragma("GCC unroll 2") for (int v = 0; v < nv; v++)                                   \
            {                                                                                      \
                a0[v] = FMA(w0, LOAD(m[v], b0 + W * v), a0[v]);                                    \
                a1[v] = FMA(w1, LOAD(m[v], b1 + W * v), a1[v]);                                    \
            }                                                                                      \
        }                                                                                          \
        for (int64_t f = e; f < nz0; f++) {                                                        \
            const float *b0 = B + (ptrdiff_t)col0[f] * ldb;                                        \
            const VT w0 = SET1(val0[f]);                                                           \
            _Pragma("GCC unroll 2") for (int v = 0; v < nv; v++) a0[v] =                           \
                FMA(w0, LOAD(m[v], b0 + W * v), a0[v]);                                            \
        }                                                                                          \
        for (int64_t f = e; f < nz1; f++) {                                                        \
            const float *b1 = B + (ptrdiff_t)col1[f] * ldb;                                        \
            const VT w1 = SET1(val1[f]);                                                           \
            _Pragma("GCC unroll 2") for (int v = 0; v < nv; v++) a1[v] =                           \
                FMA(w1, LOAD(m[v], b1 + W * v), a1[v]);                                            \
        }                                                                                          \
        _Pragma("GCC unroll 2") for (int v = 0; v < nv; v++)                                       \
        {                                                                                          \
            STORE(c0 + W * v, m[v], a0[v]);                                                        \
            STORE(c1 + W * v, m[v], a1[v]);                                                        \
        }                                                                                          \
    }

#ifdef SB_X86

/* Two vectors, as wide as the AVX2 tile: with four (64 columns) the rows of B a micro-tile
 * walks no longer stay in L1 and ResNet-18's 3x3 convolutions ran 1.3-1.6x slower. */
#define T512 32

SB_INLINE SB_TGT512 __mmask16 mask16(int n)
{
    return (__mmask16)(n >= 16 ? 0xffffu : n <= 0 ? 0u : (1u << n) - 1);
}

SB_INLINE SB_TGT512 void row512_body(const int nv, const int32_t *col, const float *val,
                                     int64_t nz, const float *B, ptrdiff_t ldb, int n, float *c)
{
    __mmask16 m[2];
    __m512 acc[2];
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
        m[v] = mask16(n - 16 * v);
        acc[v] = _mm512_setzero_ps();
    }
    for (int64_t e = 0; e < nz; e++) {
        const float *b = B + (ptrdiff_t)col[e] * ldb;
        const __m512 w = _mm512_set1_ps(val[e]);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[v] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m[v], b + 16 * v), acc[v]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        _mm512_mask_storeu_ps(c + 16 * v, m[v], acc[v]);
}

SB_TGT512 static void row_avx512(const int32_t *col, const float *val, int64_t nz,
                                 const float *B, ptrdiff_t ldb, int n, float *c)
{
    switch ((n + 15) / 16) {
    case 1: row512_body(1, col, val, nz, B, ldb, n, c); break;
    default: row512_body(2, col, val, nz, B, ldb, n, c); break;
    }
}

SB_INLINE SB_TGT512 __m512 load512(__mmask16 m, const float *p)
{
    return _mm512_maskz_loadu_ps(m, p);
}

SB_INLINE SB_TGT512 void store512(float *p, __mmask16 m, __m512 v)
{
    _mm512_mask_storeu_ps(p, m, v);
}

SB_INLINE SB_TGT512 void row2_512_body(const int nv, const int32_t *col0, const float *val0,
                                       int64_t nz0, const int32_t *col1, const float *val1,
                                       int64_t nz1, const float *B, ptrdiff_t ldb, int n,
                                       float *c0, float *c1)
ROW2_BODY(__m512, __mmask16, 16, mask16, _mm512_set1_ps, _mm512_setzero_ps, load512,
          _mm512_fmadd_ps, store512)

SB_TGT512 static void row2_avx512(const int32_t *col0, const float *val0, int64_t nz0,
                                  const int32_t *col1, const float *val1, int64_t nz1,
                                  const float *B, ptrdiff_t ldb, int n, float *c0, float *c1)
{
    if (n > 16)
        row2_512_body(2, col0, val0, nz0, col1, val1, nz1, B, ldb, n, c0, c1);
    else
        row2_512_body(1, col0, val0, nz0, col1, val1, nz1, B, ldb, n, c0, c1);
}

#define T256 32

SB_INLINE SB_TGT256 __m256i mask8(int n)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
}

SB_INLINE SB_TGT256 void row256_body(const int nv, const int32_t *col, const float *val,
                                     int64_t nz, const float *B, ptrdiff_t ldb, int n, float *c)
{
    __m256i m[4];
    __m256 acc[4];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
        m[v] = mask8(n - 8 * v);
        acc[v] = _mm256_setzero_ps();
    }
    for (int64_t e = 0; e < nz; e++) {
        const float *b = B + (ptrdiff_t)col[e] * ldb;
        const __m256 w = _mm256_set1_ps(val[e]);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[v] = _mm256_fmadd_ps(w, _mm256_maskload_ps(b + 8 * v, m[v]), acc[v]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        _mm256_maskstore_ps(c + 8 * v, m[v], acc[v]);
}

SB_TGT256 static void row_avx2(const int32_t *col, const float *val, int64_t nz, const float *B,
                               ptrdiff_t ldb, int n, float *c)
{
    switch ((n + 7) / 8) {
    case 1: row256_body(1, col, val, nz, B, ldb, n, c); break;
    case 2: row256_body(2, col, val, nz, B, ldb, n, c); break;
    case 3: row256_body(3, col, val, nz, B, ldb, n, c); break;
    default: row256_body(4, col, val, nz, B, ldb, n, c); break;
    }
}

SB_INLINE SB_TGT256 __m256 load256(__m256i m, const float *p)
{
    return _mm256_maskload_ps(p, m);
}

SB_INLINE SB_TGT256 void store256(float *p, __m256i m, __m256 v)
{
    _mm256_maskstore_ps(p, m, v);
}

/* Two rows of 16 columns (2 vectors each): with four vectors per row the 16 ymm registers
 * would not hold both rows' accumulators. */
SB_INLINE SB_TGT256 void row2_256_body(const int nv, const int32_t *col0, const float *val0,
                                       int64_t nz0, const int32_t *col1, const float *val1,
                                       int64_t nz1, const float *B, ptrdiff_t ldb, int n,
                                       float *c0, float *c1)
ROW2_BODY(__m256, __m256i, 8, mask8, _mm256_set1_ps, _mm256_setzero_ps, load256,
          _mm256_fmadd_ps, store256)

SB_TGT256 static void row2_avx2(const int32_t *col0, const float *val0, int64_t nz0,
                                const int32_t *col1, const float *val1, int64_t nz1,
                                const float *B, ptrdiff_t ldb, int n, float *c0, float *c1)
{
    for (int j = 0; j < n; j += 16) {
        const int w = n - j < 16 ? n - j : 16;
        if (w > 8)
            row2_256_body(2, col0, val0, nz0, col1, val1, nz1, B + j, ldb, w, c0 + j, c1 + j);
        else
            row2_256_body(1, col0, val0, nz0, col1, val1, nz1, B + j, ldb, w, c0 + j, c1 + j);
    }
}

#endif /* SB_X86 */

typedef struct sp_isa {
    row_fn row;
    row2_fn row2;
    int tile; /* columns per micro-tile */
} sp_isa;

static sp_isa sp_isa_get(void)
{
#ifdef SB_X86
    const char *isa = sb_kernels_isa();
    if (strcmp(isa, "avx512") == 0)
        return (sp_isa){row_avx512, row2_avx512, T512};
    if (strcmp(isa, "avx2") == 0)
        return (sp_isa){row_avx2, row2_avx2, T256};
#endif
    return (sp_isa){row_generic, row2_generic, GEN_T};
}

/* ---- driver ---- */

typedef struct spmm_args {
    const sb_csr *w;
    int row0, rows, N;
    const float *B;
    ptrdiff_t ldb;
    float *C;
    ptrdiff_t ldc;
    float alpha;
    sb_bias_kind kind;
    const float *bias;
    sb_act act;
    sp_isa isa;
} spmm_args;

/* alpha, bias and activation on a stored micro-tile, in the dense kernels' order. */
static void tile_finish(const spmm_args *a, int r, int j0, float *c, int n)
{
    if (a->alpha != 1.0f)
        for (int j = 0; j < n; j++)
            c[j] *= a->alpha;
    if (a->kind == SB_BIAS_ROW || a->kind == SB_BIAS_SCALAR) {
        const float b = a->bias[a->kind == SB_BIAS_ROW ? r : 0];
        for (int j = 0; j < n; j++)
            c[j] += b;
    } else if (a->kind == SB_BIAS_COL) {
        for (int j = 0; j < n; j++)
            c[j] += a->bias[j0 + j];
    }
    sb_act_apply_n(&a->act, c, (size_t)n);
}

static void spmm_task(const spmm_args *a, int r0, int r1, int n0, int n1)
{
    const sb_csr *w = a->w;
    const int64_t *rp = w->rowptr + a->row0;
    for (int r = r0; r < r1; r += 2) {
        const int pair = r + 1 < r1;
        float *c0 = a->C + (ptrdiff_t)r * a->ldc, *c1 = c0 + a->ldc;
        for (int j0 = n0; j0 < n1; j0 += a->isa.tile) {
            const int n = n1 - j0 < a->isa.tile ? n1 - j0 : a->isa.tile;
            if (pair)
                a->isa.row2(w->col + rp[r], w->val + rp[r], rp[r + 1] - rp[r], w->col + rp[r + 1],
                            w->val + rp[r + 1], rp[r + 2] - rp[r + 1], a->B + j0, a->ldb, n,
                            c0 + j0, c1 + j0);
            else
                a->isa.row(w->col + rp[r], w->val + rp[r], rp[r + 1] - rp[r], a->B + j0, a->ldb,
                           n, c0 + j0);
            tile_finish(a, r, j0, c0 + j0, n);
            if (pair)
                tile_finish(a, r + 1, j0, c1 + j0, n);
        }
    }
}

/* Task t: column block t / nr, row block t % nr. */
static void spmm_block(const spmm_args *a, int nr, int rows, int N, int t)
{
    const int b = t / nr, rc = t % nr;
    const int r1 = (rc + 1) * SP_RB < rows ? (rc + 1) * SP_RB : rows;
    const int n1 = (b + 1) * SP_NB < N ? (b + 1) * SP_NB : N;
    spmm_task(a, rc * SP_RB, r1, b * SP_NB, n1);
}

void sb_spmm(const sb_csr *w, int row0, int rows, int N, const float *B, ptrdiff_t ldb, float *C,
             ptrdiff_t ldc, const sb_epilogue *ep)
{
    if (rows <= 0 || N <= 0)
        return;
    spmm_args a = {w, row0, rows, N, B, ldb, C, ldc, 1.0f, SB_BIAS_NONE, NULL,
                   {SB_ACT_NONE, 0.0f, 0.0f}, sp_isa_get()};
    if (ep) {
        a.alpha = ep->alpha == 0.0f ? 1.0f : ep->alpha;
        a.kind = ep->bias ? ep->bias_kind : SB_BIAS_NONE;
        a.bias = ep->bias;
        a.act = ep->act;
    }
    const int nb = (N + SP_NB - 1) / SP_NB, nr = (rows + SP_RB - 1) / SP_RB;
    const int tasks = nb * nr;
    const int64_t nz = w->rowptr[row0 + rows] - w->rowptr[row0];
    const int64_t cap = nz * N / SP_MACS_PER_THREAD;
    int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (T > tasks)
        T = tasks;
    if (T > cap)
        T = cap < 1 ? 1 : (int)cap;
    /* Consecutive tasks share a column block, and static chunks keep them on one thread. */
    if (T <= 1) { /* no region at all: see par.h */
        for (int t = 0; t < tasks; t++)
            spmm_block(&a, nr, rows, N, t);
        return;
    }
#pragma omp parallel for num_threads(T) schedule(static)
    for (int t = 0; t < tasks; t++)
        spmm_block(&a, nr, rows, N, t);
}

/* ---- Gemm: Y = op(A) W^T computed as Y^T = W op(A)^T, so SIMD runs along the batch ---- */

size_t sb_gemm_sparse_scratch(int transA, int m, int k, int nn)
{
    return (transA ? 0 : (size_t)k * m) + (m > 1 ? (size_t)nn * m : 0);
}

void sb_gemm_sparse(int transA, int m, int k, const float *A, int lda, const sb_csr *w,
                    const sb_epilogue *ep, float *Y, int ldy, float *scratch)
{
    const int nn = w->rows;
    float *yt = scratch, *at = scratch + (m > 1 ? (size_t)nn * m : 0);
    const float *B = A;
    if (!transA) {
        for (int i = 0; i < m; i++)
            for (int kk = 0; kk < k; kk++)
                at[(size_t)kk * m + i] = A[(size_t)i * lda + kk];
        B = at;
        lda = m;
    }
    sb_epilogue e = ep ? *ep : (sb_epilogue){.alpha = 1.0f};
    if (e.bias_kind == SB_BIAS_COL)
        e.bias_kind = SB_BIAS_ROW;
    else if (e.bias_kind == SB_BIAS_ROW) /* a per-sample bias is the transposed problem's COL */
        e.bias_kind = SB_BIAS_COL;
    if (m == 1) { /* Y^T is Y */
        sb_spmm(w, 0, nn, 1, B, lda, Y, 1, &e);
        return;
    }
    sb_spmm(w, 0, nn, m, B, lda, yt, m, &e);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < nn; j++)
            Y[(size_t)i * ldy + j] = yt[(size_t)j * m + i];
}
