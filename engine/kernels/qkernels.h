/* Integer (u8 activations x s8 weights, int32 accumulation) convolution and Gemm.
 *
 * y = act((acc - x_zp * wsum[o]) * scale[o] + bias[o]) where acc = sum_k x_u8[k] * w_s8[o][k],
 * then either stored as float or requantised to u8 for a next int8 layer. The sum is exact
 * (integers), and the epilogue is a fixed sequence of float operations (multiply, then add; no
 * fused multiply-add), so every ISA, thread count and batch size gives the same bits. */
#ifndef SB_QKERNELS_H
#define SB_QKERNELS_H

#include "kernels/kernels.h"

#include <stdint.h>

typedef enum { SB_QISA_REF = 0, SB_QISA_AVX2, SB_QISA_VNNI } sb_qisa;

/* The best integer kernel this CPU runs (SB_ISA=avx2|generic lowers it, as for the f32 ones). */
sb_qisa sb_qisa_detect(void);
/* "int8-ref", "int8-avx2", "int8-vnni". */
const char *sb_qisa_name(sb_qisa isa);

/* How a convolution's X is formed: the input itself (1x1, stride 1, unpadded); "wide" rows
 * of a zero-point-padded copy (stride 1: row (c, i, j) is the padded plane shifted by (i, j),
 * computed over the padded width, extra columns dropped); or an explicit im2col. */
typedef enum { SB_QMODE_DIRECT = 0, SB_QMODE_WIDE, SB_QMODE_IM2COL } sb_qmode;

typedef struct sb_qconv {
    sb_conv_geom g;   /* per image; a Gemm is C = K inputs, M outputs, 1x1 everything */
    int is_gemm;      /* x is [n][K] (one column per image), y is [n][M] */
    sb_qisa isa;
    int Mg, Kg, Kq;   /* per group: outputs, reduction length, quads of 4 (Kg rounded up) */
    int Mp;           /* row panels per group */
    void *wpack;      /* packed weights of every group (layout per ISA), owned */
    size_t wpack_group; /* bytes of one group's packed weights */
    sb_qmode mode;
    size_t *roff;     /* per k of a group: offset of X's row k from its base, owned */
    int32_t *wsum;    /* per output channel: sum of its integer weights, owned */
    float *scale;     /* per output channel: x_scale * weight scale, owned */
    float *bias;      /* per output channel, owned (zeros when the layer has none) */
    sb_act act;
    int x_zp;         /* zero point of the u8 input (padding reads it: float zero) */
    int out_u8;       /* 1: requantise the output to u8 with the y_* parameters */
    float y_scale;
    int y_zp, y_qmin, y_qmax;
} sb_qconv;

/* Fills q's packed weights, wsum from integer weights k (M rows of Kg, |k| <= 127), for the
 * ISA in q->isa; q->g, is_gemm must be set. Returns 0, or -1 when out of memory. */
int sb_qconv_pack(sb_qconv *q, const int8_t *k);
void sb_qconv_release(sb_qconv *q);
/* Bytes of scratch sb_qconv_run needs for n images with up to `threads` threads. */
size_t sb_qconv_scratch(const sb_qconv *q, int n, int threads);
/* n images (Gemm: n rows) of u8 input x to y (float, or u8 when q->out_u8). */
void sb_qconv_run(const sb_qconv *q, int n, const uint8_t *x, void *y, void *scratch);

/* y = clamp(nearbyint(x / scale) + zp, qmin, qmax), as QuantizeLinear (u8 range). */
void sb_quantize_u8(const float *x, size_t n, float scale, int zp, int qmin, int qmax,
                    uint8_t *y);

#endif
