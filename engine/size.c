/* What a model costs: parameters, MACs, and storage with the real encoding — quantised weights
 * at their bit width with their scales, and a sparse (CSR) layout where it is smaller. */
#include "model.h"

static int layer_bits(const sb_model *m, int l)
{
    return m->cfg.n_layers == m->n_layers ? m->cfg.layer[l].wbits : 32;
}

/* Bytes of one weight tensor: dense, or CSR with 16/32-bit column indices, whichever is smaller;
 * plus quantisation scales (and zero points) per channel or per tensor. */
static int64_t weight_bytes(const sb_model *m, int l, int64_t nonzero)
{
    const sb_layer *ly = &m->layers[l];
    const sb_shape *ws = &m->g->values[ly->weight].shape;
    int64_t n = sb_shape_count(ws), rows = ws->dim[0], cols = n / (rows ? rows : 1);
    int bits = layer_bits(m, l);
    int64_t dense = (n * bits + 7) / 8;
    int64_t index = cols <= 65536 ? 2 : 4;
    int64_t csr = (nonzero * bits + 7) / 8 + nonzero * index + (rows + 1) * 4;
    int64_t scales = 0;
    if (bits < 32) {
        const sb_layer_config *c = &m->cfg.layer[l];
        int64_t groups = c->gran == SB_GRAN_CHANNEL ? ly->out_channels : 1;
        scales = groups * (4 + (c->asymmetric ? 1 : 0));
    }
    return (csr < dense ? csr : dense) + scales;
}

static int64_t nonzero_of(const sb_value *v)
{
    const float *w = v->data;
    int64_t n = sb_shape_count(&v->shape), nz = 0;
    for (int64_t i = 0; i < n; i++)
        nz += w[i] != 0.0f;
    return nz;
}

sb_size_info sb_model_layer_size(const sb_model *m, int l)
{
    const sb_layer *ly = &m->layers[l];
    int64_t n = sb_shape_count(&m->g->values[ly->weight].shape);
    int64_t nz = nonzero_of(&m->g->values[ly->weight]);
    int64_t bias = ly->params - n;
    return (sb_size_info){
        .params = ly->params, .nonzero = nz + bias, .macs = ly->macs,
        .effective_macs = n ? (int64_t)((double)ly->macs * (double)nz / (double)n) : 0,
        .bytes = weight_bytes(m, l, nz) + bias * 4};
}

static bool is_layer_param(const sb_model *m, int v)
{
    for (int l = 0; l < m->n_layers; l++)
        if (v == m->layers[l].weight || v == m->layers[l].bias)
            return true;
    return false;
}

sb_size_info sb_model_size(const sb_model *m)
{
    sb_size_info s = {0};
    for (int l = 0; l < m->n_layers; l++) {
        sb_size_info ls = sb_model_layer_size(m, l);
        s.params += ls.params;
        s.nonzero += ls.nonzero;
        s.macs += ls.macs;
        s.effective_macs += ls.effective_macs;
        s.bytes += ls.bytes;
    }
    for (int v = 0; v < m->g->n_values; v++) { /* BatchNorm and other float constants */
        const sb_value *val = &m->g->values[v];
        if (val->kind == SB_VAL_CONST && val->dtype == SB_F32 && val->consumers > 0 &&
            !is_layer_param(m, v))
            s.bytes += sb_shape_count(&val->shape) * 4;
    }
    return s;
}
