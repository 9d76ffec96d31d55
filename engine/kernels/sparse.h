/* Sparse f32 kernels for unstructured (magnitude) pruning: weights in CSR, multiplied into a
 * dense matrix with SIMD over its columns (the spatial positions of a convolution, the batch of
 * a Gemm). Same run-time ISA as the dense kernels (sb_kernels_isa, SB_ISA).
 *
 * Exactness: each output is one chain of multiply-adds over the row's non-zero weights in
 * increasing k, started from zero, then alpha, bias and the activation — the dense kernels'
 * chain with the zero terms left out, using the same (fused or separate) multiply-add. Adding
 * w*x = ±0 never changes a finite partial sum that started at +0, so for finite inputs the
 * sparse result is bit-identical to the dense one, for any thread count. */
#ifndef SB_SPARSE_H
#define SB_SPARSE_H

#include "kernels/kernels.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sb_csr {
    int rows, cols;
    int64_t nnz;
    int64_t *rowptr; /* rows + 1 */
    int32_t *col;    /* increasing within a row */
    float *val;
    int32_t *off;    /* convolutions: where col's tap lies in the implicit GEMM's planes, or NULL */
} sb_csr;

/* The non-zeros of a rows x cols matrix whose element (r, c) is w[r * rs + c * cs];
 * NULL when out of memory. */
sb_csr *sb_csr_from_dense(const float *w, int rows, int cols, ptrdiff_t rs, ptrdiff_t cs);
void sb_csr_free(sb_csr *a);

/* C[rows x N] = act(alpha * W[row0 .. row0 + rows) * B + bias), B cols x N (ldb apart).
 * ep: bias ROW indexed from row0's output (length rows) or COL (length N); may be NULL. */
void sb_spmm(const sb_csr *w, int row0, int rows, int N, const float *B, ptrdiff_t ldb, float *C,
             ptrdiff_t ldc, const sb_epilogue *ep);

/* Convolution with CSR weights (M x C/group*kh*kw). Any geometry sb_conv2d takes except
 * depthwise (sb_conv2d_sparse_ok); scratch as sb_conv2d_scratch. */
bool sb_conv2d_sparse_ok(const sb_conv_geom *g);
void sb_conv2d_sparse(const sb_conv_geom *g, int n, const float *x, const sb_csr *w,
                      const float *bias, const sb_act *act, float *y, float *scratch);
/* Lets sb_conv2d_sparse read the taps of geometry g from the implicit GEMM's planes instead of
 * an im2col matrix (fills w->off once, at plan time). False when out of memory; a geometry that
 * uses im2col needs nothing and returns true. */
bool sb_conv2d_sparse_prepare(const sb_conv_geom *g, sb_csr *w);

/* Y[m x nn] = act(alpha * op(A) * W^T + bias) with W CSR nn x k (ONNX Gemm with a constant B:
 * W is B, or B transposed). op(A) is m x k (A stored k x m when transA). ep bias: COL. */
size_t sb_gemm_sparse_scratch(int transA, int m, int k, int nn);
void sb_gemm_sparse(int transA, int m, int k, const float *A, int lda, const sb_csr *w,
                    const sb_epilogue *ep, float *Y, int ldy, float *scratch);

#endif
