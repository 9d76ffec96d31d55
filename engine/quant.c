/* Weight fake-quantisation at 8/6/4/2 bits, symmetric or asymmetric, per output channel or per
 * tensor, rounding half to even; and 8-bit affine activation quantisation as ONNX's
 * QuantizeLinear/DequantizeLinear compute it. */
#include "prune.h"
#include "par.h"

#include <math.h>
#include <string.h>

static float quant_sym(float w, float scale, int qmax)
{
    float q = nearbyintf(w / scale);
    q = q > (float)qmax ? (float)qmax : q < (float)-qmax ? (float)-qmax : q;
    return q * scale;
}

static float quant_asym(float w, float scale, int zp, int qmax)
{
    float q = nearbyintf(w / scale) + (float)zp;
    q = q > (float)qmax ? (float)qmax : q < 0 ? 0 : q;
    return (q - (float)zp) * scale;
}

sb_qparams sb_quant_group_params(const float *w, int64_t n, int64_t step,
                                 const sb_layer_config *cfg)
{
    float lo = 0, hi = 0, amax = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = w[i * step];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        amax = fabsf(v) > amax ? fabsf(v) : amax;
    }
    sb_qparams q = {.qmax = cfg->asymmetric ? (1 << cfg->wbits) - 1 : (1 << (cfg->wbits - 1)) - 1};
    q.qmin = cfg->asymmetric ? 0 : -q.qmax;
    q.scale = (cfg->asymmetric ? hi - lo : amax) / (float)q.qmax;
    q.scale = q.scale == 0 ? 1.0f : q.scale;
    if (cfg->asymmetric) {
        int zp = (int)nearbyintf(-lo / q.scale);
        q.zero_point = zp < 0 ? 0 : zp > q.qmax ? q.qmax : zp;
    }
    return q;
}

/* Quantises the n elements at w with stride `step` as one group sharing a scale. */
static void quant_group(float *w, int64_t n, int64_t step, const sb_layer_config *cfg)
{
    sb_qparams q = sb_quant_group_params(w, n, step, cfg);
    for (int64_t i = 0; i < n; i++)
        w[i * step] = cfg->asymmetric ? quant_asym(w[i * step], q.scale, q.zero_point, q.qmax)
                                      : quant_sym(w[i * step], q.scale, q.qmax);
}

void sb_quant_weights(float *w, int64_t rows, int64_t cols, int out_axis,
                      const sb_layer_config *cfg)
{
    if (cfg->wbits >= 32)
        return;
    if (cfg->gran == SB_GRAN_TENSOR) {
        quant_group(w, rows * cols, 1, cfg);
        return;
    }
    if (out_axis == 0) /* channel r is row r: cols contiguous weights */
        for (int64_t r = 0; r < rows; r++)
            quant_group(w + r * cols, cols, 1, cfg);
    else /* channel c is column c of a rows x cols matrix */
        for (int64_t c = 0; c < cols; c++)
            quant_group(w + c, rows, cols, cfg);
}

sb_qparams sb_qparams_u8(float lo, float hi)
{
    lo = lo > 0 ? 0 : lo; /* zero must be exactly representable */
    hi = hi < 0 ? 0 : hi;
    sb_qparams q = {.qmin = 0, .qmax = 255};
    q.scale = (hi - lo) / 255.0f;
    if (q.scale == 0)
        q.scale = 1.0f;
    int zp = (int)nearbyintf(-lo / q.scale);
    q.zero_point = zp < 0 ? 0 : zp > 255 ? 255 : zp;
    return q;
}

float sb_fake_quant(float x, const sb_qparams *q)
{
    float v = nearbyintf(x / q->scale) + (float)q->zero_point;
    v = v < (float)q->qmin ? (float)q->qmin : v > (float)q->qmax ? (float)q->qmax : v;
    return (v - (float)q->zero_point) * q->scale;
}

void sb_fake_quant_n(const float *x, float *y, int64_t n, const sb_qparams *q)
{
    enum { PAR_MIN = 32768 }; /* below this many values, threads cost more than they save */
    if (q->scale == 0) {
        if (y != x)
            memmove(y, x, (size_t)n * sizeof *y);
        return;
    }
    SB_FOR(sb_fork((double)n, PAR_MIN), int64_t, i, n, y[i] = sb_fake_quant(x[i], q););
}
