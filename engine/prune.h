/* Internal: pruning and quantisation primitives used by compress.c. */
#ifndef SB_PRUNE_H
#define SB_PRUNE_H

#include "compress.h"

/* k = round(ratio x n), half to even (Python's round). */
int64_t sb_prune_count(double ratio, int64_t n);
/* Zeroes the round(ratio x total) smallest-magnitude weights over all tensors together, ties
 * broken by position in the concatenation. */
sb_status sb_prune_magnitude(float *const *w, const int64_t *len, int n_tensors, double ratio,
                             sb_error *err);

/* quant.c: fake-quantises w (rows x per, or per x rows when out_axis is 1) in place. */
void sb_quant_weights(float *w, int64_t rows, int64_t cols, int out_axis,
                      const sb_layer_config *cfg);

/* Affine 8-bit activation quantisation parameters from an observed range. */
typedef struct sb_qparams {
    float scale;
    int zero_point, qmin, qmax;
} sb_qparams;
sb_qparams sb_qparams_u8(float lo, float hi);
/* The scale (and zero point) quant.c gives one group of weights: n values at stride `step`. */
sb_qparams sb_quant_group_params(const float *w, int64_t n, int64_t step,
                                 const sb_layer_config *cfg);
float sb_fake_quant(float x, const sb_qparams *q);
/* sb_fake_quant over n values (y may be x); scale 0 passes x through (quantisation off). */
void sb_fake_quant_n(const float *x, float *y, int64_t n, const sb_qparams *q);

#endif
