/* sb_model → ONNX ModelProto, written with protobuf-c. Nodes are re-emitted from the engine's
 * parsed sb_node fields (not copied from the source file), at opset max(original, 13): where a
 * raised opset changed an operator's meaning, the node is rewritten (Clip bounds become inputs,
 * a pre-13 Softmax on an inner axis becomes Flatten/Softmax/Reshape, a legacy Add/Mul broadcast
 * axis becomes an explicitly shaped operand). Weights a compressed model quantised are written
 * as integer codes plus a DequantizeLinear (QDQ); the activation FakeQuant nodes become
 * QuantizeLinear + DequantizeLinear. */
#include "compress.h"

#include "model.h"
#include "prune.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* raw_data is written straight from host memory; ONNX stores it little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "export.c assumes a little-endian host");

/* Per-axis DequantizeLinear, Clip bounds as inputs and single-axis Softmax all need 13. */
#define EXPORT_MIN_OPSET 13
#define MAX_ATTRS 8 /* the most any emitted node carries (pools: 6) */

typedef struct exporter {
    const sb_model *m;
    const sb_graph *g;
    const sb_shape *shapes; /* per value: the batch-1 plan's shapes, or NULL */
    int64_t opset;          /* the opset written */
    sb_error *err;
    bool nomem;
    const char *bug; /* an invariant that failed (reported as an internal error) */
    void **allocs;   /* every allocation below, freed together at the end */
    size_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    char **names; /* value and node names in use, so new ones stay unique */
    size_t n_names, cap_names;
    bool *used;    /* per value: read by an emitted node or a graph output */
    bool *dequant; /* per value: the output of an emitted DequantizeLinear, not an initializer */
} exporter;

/* Appends item to a growable array (arr, n, cap); on failure sets x->nomem and drops it. */
#define PUSH(x, arr, n, cap, item)                                                                 \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t grown_ = (cap) ? 2 * (cap) : 32;                                                \
            void *p_ = realloc((arr), grown_ * sizeof *(arr));                                     \
            if (!p_) {                                                                             \
                (x)->nomem = true;                                                                 \
                break;                                                                             \
            }                                                                                      \
            (arr) = p_;                                                                            \
            (cap) = grown_;                                                                        \
        }                                                                                          \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

/* ---- memory: zeroed blocks owned by the exporter ---- */

static void *ex_alloc(exporter *x, size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        x->nomem = true;
        return NULL;
    }
    size_t before = x->n_allocs;
    PUSH(x, x->allocs, x->n_allocs, x->cap_allocs, p);
    if (x->n_allocs == before) {
        free(p);
        return NULL;
    }
    return p;
}

static char *ex_strdup(exporter *x, const char *s)
{
    char *d = ex_alloc(x, strlen(s) + 1);
    return d ? strcpy(d, s) : NULL;
}

/* ---- names ---- */

static bool name_taken(const exporter *x, const char *s)
{
    for (size_t i = 0; i < x->n_names; i++)
        if (strcmp(x->names[i], s) == 0)
            return true;
    return false;
}

/* base + suffix, with "_N" appended when that is already a value's or node's name. */
static char *fresh_name(exporter *x, const char *base, const char *suffix)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    char *s = ex_alloc(x, len);
    if (!s)
        return NULL;
    snprintf(s, len, "%s%s", base, suffix);
    for (int k = 1; name_taken(x, s); k++)
        snprintf(s, len, "%s%s_%d", base, suffix, k);
    PUSH(x, x->names, x->n_names, x->cap_names, s);
    return s;
}

static char *value_name(exporter *x, int v)
{
    if (v < 0)
        return ""; /* an omitted optional input */
    x->used[v] = true;
    return x->g->values[v].name;
}

/* The shape of value v: constants exactly, others as planned for batch 1. */
static const sb_shape *shape_of(const exporter *x, int v)
{
    const sb_value *val = &x->g->values[v];
    return val->kind == SB_VAL_CONST || !x->shapes ? &val->shape : &x->shapes[v];
}

/* ---- message builders ---- */

static Onnx__NodeProto *new_node(exporter *x, const char *op, const char *name, int n_in, int n_out)
{
    Onnx__NodeProto *p = ex_alloc(x, sizeof *p);
    char **in = ex_alloc(x, ((size_t)n_in + 1) * sizeof *in);
    char **out = ex_alloc(x, ((size_t)n_out + 1) * sizeof *out);
    Onnx__AttributeProto **attrs = ex_alloc(x, MAX_ATTRS * sizeof *attrs);
    if (!p || !in || !out || !attrs)
        return NULL;
    *p = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    p->op_type = ex_strdup(x, op);
    p->name = name ? ex_strdup(x, name) : NULL;
    p->n_input = (size_t)n_in;
    p->input = in;
    p->n_output = (size_t)n_out;
    p->output = out;
    p->attribute = attrs;
    for (int i = 0; i < n_in; i++)
        in[i] = "";
    for (int i = 0; i < n_out; i++)
        out[i] = "";
    size_t before = x->n_nodes;
    PUSH(x, x->nodes, x->n_nodes, x->cap_nodes, p);
    return x->n_nodes == before || !p->op_type ? NULL : p;
}

/* A node of type op standing for graph node n: its name, first n_in inputs, first n_out outputs. */
static Onnx__NodeProto *node_for(exporter *x, const sb_node *n, const char *op, int n_in, int n_out)
{
    Onnx__NodeProto *p = new_node(x, op, n->name, n_in, n_out);
    for (int i = 0; p && i < n_in; i++)
        p->input[i] = value_name(x, n->in[i]);
    for (int i = 0; p && i < n_out; i++)
        p->output[i] = n->out[i] >= 0 ? x->g->values[n->out[i]].name : "";
    return p;
}

static Onnx__AttributeProto *add_attr(exporter *x, Onnx__NodeProto *p, char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (!p)
        return NULL; /* out of memory, already recorded */
    if (p->n_attribute >= MAX_ATTRS) {
        x->bug = "a node has more attributes than MAX_ATTRS";
        return NULL;
    }
    Onnx__AttributeProto *a = ex_alloc(x, sizeof *a);
    if (!a)
        return NULL;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = name;
    a->has_type = 1;
    a->type = type;
    p->attribute[p->n_attribute++] = a;
    return a;
}

static void attr_int(exporter *x, Onnx__NodeProto *p, char *name, int64_t v)
{
    Onnx__AttributeProto *a = add_attr(x, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = 1, a->i = v;
}

static void attr_float(exporter *x, Onnx__NodeProto *p, char *name, float v)
{
    Onnx__AttributeProto *a = add_attr(x, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = 1, a->f = v;
}

static void attr_string(exporter *x, Onnx__NodeProto *p, char *name, const char *s)
{
    Onnx__AttributeProto *a = add_attr(x, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *copy = ex_strdup(x, s);
    if (a && copy)
        a->has_s = 1, a->s.data = (uint8_t *)copy, a->s.len = strlen(s);
}

static void attr_ints(exporter *x, Onnx__NodeProto *p, char *name, const int *v, int n)
{
    Onnx__AttributeProto *a = add_attr(x, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = ex_alloc(x, ((size_t)n + 1) * sizeof *d);
    if (!a || !d)
        return;
    for (int i = 0; i < n; i++)
        d[i] = v[i];
    a->n_ints = (size_t)n;
    a->ints = d;
}

/* An initializer whose raw_data points at `data` (not copied: it outlives the packing). */
static void add_init(exporter *x, char *name, int onnx_type, const sb_shape *shape, void *data,
                     size_t bytes)
{
    Onnx__TensorProto *t = ex_alloc(x, sizeof *t);
    int64_t *dims = ex_alloc(x, ((size_t)shape->rank + 1) * sizeof *dims);
    if (!t || !dims || !name)
        return;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = name;
    t->has_data_type = 1;
    t->data_type = onnx_type;
    memcpy(dims, shape->dim, (size_t)shape->rank * sizeof *dims);
    t->n_dims = (size_t)shape->rank;
    t->dims = dims;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = data;
    PUSH(x, x->inits, x->n_inits, x->cap_inits, t);
}

static int onnx_type_of(sb_dtype dt)
{
    return dt == SB_F32 ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                        : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
}

static size_t dtype_bytes(sb_dtype dt)
{
    return dt == SB_F32 ? 4 : 8;
}

/* A new scalar (rank 0) initializer named base + suffix; returns its name. */
static char *scalar_init(exporter *x, const char *base, const char *suffix, int onnx_type,
                         const void *value, size_t bytes)
{
    char *name = fresh_name(x, base, suffix);
    void *data = ex_alloc(x, bytes);
    if (!name || !data)
        return NULL;
    memcpy(data, value, bytes);
    add_init(x, name, onnx_type, &(sb_shape){0}, data, bytes);
    return name;
}

/* A new 1-D int64 initializer; returns its name. */
static char *ints_init(exporter *x, const char *base, const char *suffix, const int64_t *v, int n)
{
    char *name = fresh_name(x, base, suffix);
    int64_t *data = ex_alloc(x, ((size_t)n + 1) * sizeof *data);
    if (!name || !data)
        return NULL;
    memcpy(data, v, (size_t)n * sizeof *data);
    add_init(x, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, &(sb_shape){.rank = 1, .dim = {n}},
             data, (size_t)n * sizeof *data);
    return name;
}

/* ---- quantised weights: integer codes + DequantizeLinear ---- */

/* Whether every weight (n of them at stride `step`) is (q - zp) * scale exactly for an integer q
 * in [qmin, qmax]; stores the codes at the same positions of q. */
static bool codes_match(const float *w, int64_t n, int64_t step, float scale, int zp, int qmin,
                        int qmax, uint8_t *q)
{
    for (int64_t i = 0; i < n; i++) {
        float v = w[i * step], c = nearbyintf(v / scale) + (float)zp;
        if (!(c >= (float)qmin && c <= (float)qmax) || (c - (float)zp) * scale != v)
            return false;
        q[i * step] = (uint8_t)(int)c; /* int8 codes stored as their two's-complement byte */
    }
    return true;
}

/* Recovers the codes of one quantisation group that quant.c fake-quantised. Its scale is
 * recomputed the way quant.c computed it, from the stored (already quantised) values: the
 * largest |w| came back as qmax * scale, so this normally gives quant.c's scale again; one or two
 * rounding steps either way are tried before giving up (the layer is then written as float). */
static bool recover_group(const float *w, int64_t n, int64_t step, const sb_layer_config *lc,
                          uint8_t *q, float *scale_out, int *zp_out)
{
    sb_qparams p = sb_quant_group_params(w, n, step, lc);
    bool asym = lc->asymmetric;
    int qmax = p.qmax, qmin = p.qmin;
    float scale = p.scale, lo = 0;
    for (int64_t i = 0; asym && i < n; i++)
        lo = w[i * step] < lo ? w[i * step] : lo;
    static const int ulps[] = {0, 1, -1, 2, -2};
    for (size_t k = 0; k < sizeof ulps / sizeof ulps[0]; k++) {
        float s = scale;
        for (int u = 0; u < abs(ulps[k]); u++)
            s = nextafterf(s, ulps[k] > 0 ? INFINITY : 0.0f);
        if (!(s > 0) || !isfinite(s))
            continue;
        int zp = 0;
        if (asym) {
            zp = (int)nearbyintf(-lo / s);
            zp = zp < 0 ? 0 : zp > qmax ? qmax : zp;
        }
        if (codes_match(w, n, step, s, zp, qmin, qmax, q)) {
            *scale_out = s;
            *zp_out = zp;
            return true;
        }
    }
    return false;
}

/* Writes layer l's weight as codes + scale + zero point feeding a DequantizeLinear whose output
 * takes the weight's name, so the layer's node is unchanged. Symmetric weights are stored as
 * int8 and asymmetric ones as uint8 whatever the bit width: 6-, 4- and 2-bit codes use the
 * narrower range [-(2^(b-1)-1), 2^(b-1)-1] or [0, 2^b-1] of the 8-bit type (ONNX's int4 types
 * need opset 21 and are not widely run). Leaves the layer float when the codes cannot be
 * recovered bit-exactly. */
static void emit_weight_qdq(exporter *x, int l)
{
    const sb_layer *L = &x->m->layers[l];
    const sb_layer_config *lc = &x->m->cfg.layer[l];
    const sb_value *w = &x->g->values[L->weight];
    if (lc->wbits < 2 || lc->wbits > 8 || w->kind != SB_VAL_CONST || w->dtype != SB_F32 ||
        !w->data || w->shape.rank < 1 || (L->out_axis == 1 && w->shape.rank != 2) ||
        x->dequant[L->weight])
        return;
    const float *wd = w->data;
    int64_t count = sb_shape_count(&w->shape), rows = w->shape.dim[0];
    int64_t cols = rows ? count / rows : 0, channels = w->shape.dim[L->out_axis];
    bool per_channel = lc->gran == SB_GRAN_CHANNEL;
    int64_t groups = per_channel ? channels : 1;
    uint8_t *codes = ex_alloc(x, (size_t)count);
    uint8_t *zps = ex_alloc(x, (size_t)groups);
    float *scales = ex_alloc(x, (size_t)groups * sizeof *scales);
    if (!codes || !zps || !scales || count == 0)
        return;
    for (int64_t k = 0; k < groups; k++) {
        int64_t start = !per_channel ? 0 : L->out_axis == 0 ? k * cols : k;
        int64_t n = !per_channel ? count : L->out_axis == 0 ? cols : rows;
        int64_t step = per_channel && L->out_axis == 1 ? cols : 1;
        int zp;
        if (!recover_group(wd + start, n, step, lc, codes + start, &scales[k], &zp))
            return;
        zps[k] = (uint8_t)zp;
    }
    int type =
        lc->asymmetric ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 : ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    sb_shape qs = per_channel ? (sb_shape){.rank = 1, .dim = {channels}} : (sb_shape){0};
    char *qname = fresh_name(x, w->name, "_quantized");
    char *sname = fresh_name(x, w->name, "_scale");
    char *zname = fresh_name(x, w->name, "_zero_point");
    char *dq = fresh_name(x, x->g->nodes[L->node].name, "/weight/DequantizeLinear");
    add_init(x, qname, type, &w->shape, codes, (size_t)count);
    add_init(x, sname, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &qs, scales,
             (size_t)groups * sizeof *scales);
    add_init(x, zname, type, &qs, zps, (size_t)groups);
    Onnx__NodeProto *p = dq ? new_node(x, "DequantizeLinear", dq, 3, 1) : NULL;
    if (!p || !qname || !sname || !zname)
        return;
    p->input[0] = qname, p->input[1] = sname, p->input[2] = zname;
    p->output[0] = w->name;
    if (per_channel)
        attr_int(x, p, "axis", L->out_axis);
    x->dequant[L->weight] = true;
}

/* ---- nodes ---- */

/* kernel_shape, strides, dilations, pads or auto_pad, group, ceil_mode, count_include_pad. The
 * engine keeps 1-D windows as 2-D ones of height 1: only the width slot is written back. */
static void window_attrs(exporter *x, Onnx__NodeProto *p, const sb_node *n)
{
    const sb_window *w = &n->a.win;
    int s = w->spatial, off = 2 - s, kernel[2], stride[2], dil[2], pads[4];
    bool dilated = false;
    for (int a = 0; a < s; a++) {
        kernel[a] = w->kernel[off + a];
        stride[a] = w->stride[off + a];
        dil[a] = w->dilation[off + a];
        pads[a] = w->pad_begin[off + a];
        pads[s + a] = w->pad_end[off + a];
        dilated |= dil[a] != 1;
    }
    if (n->op == SB_OP_CONV) { /* the kernel is the weight's (resolved only by planning) */
        const sb_shape *ws = shape_of(x, n->in[1]);
        for (int a = 0; a < s && ws->rank == s + 2; a++)
            kernel[a] = (int)ws->dim[2 + a];
    }
    attr_ints(x, p, "kernel_shape", kernel, s);
    attr_ints(x, p, "strides", stride, s);
    if (n->op == SB_OP_CONV || dilated) /* AveragePool has dilations only from opset 19 */
        attr_ints(x, p, "dilations", dil, s);
    /* auto_pad's pads depend on the input size: keep the mode rather than one size's pads */
    static const char *const modes[] = {[SB_PAD_SAME_UPPER] = "SAME_UPPER",
                                        [SB_PAD_SAME_LOWER] = "SAME_LOWER",
                                        [SB_PAD_VALID] = "VALID"};
    if (w->auto_pad == SB_PAD_NOTSET)
        attr_ints(x, p, "pads", pads, 2 * s);
    else
        attr_string(x, p, "auto_pad", modes[w->auto_pad]);
    if (n->op == SB_OP_CONV)
        attr_int(x, p, "group", w->group);
    if (n->op != SB_OP_CONV && w->ceil_mode)
        attr_int(x, p, "ceil_mode", w->ceil_mode);
    if (n->op == SB_OP_AVGPOOL && w->count_include_pad)
        attr_int(x, p, "count_include_pad", w->count_include_pad);
}

/* Clip before opset 11 had min/max attributes; from 11 they are (optional) inputs. */
static void emit_clip(exporter *x, const sb_node *n)
{
    if (x->g->opset >= 11) {
        node_for(x, n, "Clip", n->n_in, 1);
        return;
    }
    bool has_min = n->a.clip.min > -INFINITY, has_max = n->a.clip.max < INFINITY;
    char *lo = has_min ? scalar_init(x, n->name, "/min", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                     &n->a.clip.min, sizeof(float))
                       : "";
    char *hi = has_max ? scalar_init(x, n->name, "/max", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                     &n->a.clip.max, sizeof(float))
                       : "";
    /* the graph node has one input: the bounds are new ones, so node_for cannot fill them */
    Onnx__NodeProto *p = new_node(x, "Clip", n->name, has_max ? 3 : has_min ? 2 : 1, 1);
    if (!p || !lo || !hi)
        return;
    p->input[0] = value_name(x, n->in[0]);
    if (has_min)
        p->input[1] = lo;
    if (has_max)
        p->input[2] = hi;
    p->output[0] = x->g->values[n->out[0]].name;
}

/* Softmax before opset 13 normalised over all axes from `axis` on (a 2-D coercion); from 13 over
 * `axis` alone. Unless `axis` is the last axis anyway, the old meaning is spelt out:
 * Flatten(axis) → Softmax(-1) → Reshape back (batch -1, the other dims as planned). */
static void emit_softmax(exporter *x, const sb_node *n)
{
    const sb_shape *s = shape_of(x, n->in[0]);
    int axis = n->a.axis < 0 ? n->a.axis + s->rank : n->a.axis;
    if (x->g->opset >= 13 || axis >= s->rank - 1) {
        attr_int(x, node_for(x, n, "Softmax", 1, 1), "axis", n->a.axis);
        return;
    }
    char *flat = fresh_name(x, n->name, "/flattened");
    char *soft = fresh_name(x, n->name, "/normalised");
    char *flat_node = fresh_name(x, n->name, "/Flatten");
    char *reshape_node = fresh_name(x, n->name, "/Reshape");
    int64_t dims[SB_MAX_RANK];
    for (int i = 0; i < s->rank; i++)
        dims[i] = i == 0 ? -1 : s->dim[i];
    char *shape = ints_init(x, n->name, "/shape", dims, s->rank);
    if (!flat || !soft || !flat_node || !reshape_node || !shape)
        return;
    Onnx__NodeProto *f = new_node(x, "Flatten", flat_node, 1, 1);
    if (f) {
        f->input[0] = value_name(x, n->in[0]), f->output[0] = flat;
        attr_int(x, f, "axis", axis);
    }
    Onnx__NodeProto *p = new_node(x, "Softmax", n->name, 1, 1);
    if (p) {
        p->input[0] = flat, p->output[0] = soft;
        attr_int(x, p, "axis", -1);
    }
    Onnx__NodeProto *r = new_node(x, "Reshape", reshape_node, 2, 1);
    if (r) {
        r->input[0] = soft, r->input[1] = shape;
        r->output[0] = x->g->values[n->out[0]].name;
    }
}

/* Add/Mul before opset 7 with broadcast=1 aligned B with A at `axis`; numpy broadcasting aligns
 * at the end. B is given the trailing unit axes that make the two agree: a constant B becomes a
 * re-shaped initializer (same data), anything else goes through Unsqueeze. */
static void emit_binary(exporter *x, const sb_node *n)
{
    const char *op = n->op == SB_OP_ADD ? "Add" : "Mul";
    int b = n->in[1];
    sb_shape bs =
        b >= 0 ? sb_binary_b_shape(n, shape_of(x, n->in[0]), shape_of(x, b)) : (sb_shape){0};
    if (n->a.axis == SB_NUMPY_BROADCAST || b < 0 || bs.rank == shape_of(x, b)->rank) {
        node_for(x, n, op, 2, 1);
        return;
    }
    const sb_value *bv = &x->g->values[b];
    char *aligned;
    if (bv->kind == SB_VAL_CONST) {
        aligned = fresh_name(x, bv->name, "/aligned");
        add_init(x, aligned, onnx_type_of(bv->dtype), &bs, bv->data,
                 (size_t)sb_shape_count(&bs) * dtype_bytes(bv->dtype));
    } else {
        int64_t axes[SB_MAX_RANK];
        int rank = shape_of(x, b)->rank;
        for (int i = rank; i < bs.rank; i++)
            axes[i - rank] = i;
        char *axes_name = ints_init(x, n->name, "/axes", axes, bs.rank - rank);
        char *node = fresh_name(x, n->name, "/Unsqueeze");
        aligned = fresh_name(x, bv->name, "/aligned");
        Onnx__NodeProto *u =
            node && axes_name && aligned ? new_node(x, "Unsqueeze", node, 2, 1) : NULL;
        if (u)
            u->input[0] = value_name(x, b), u->input[1] = axes_name, u->output[0] = aligned;
    }
    Onnx__NodeProto *p = aligned ? new_node(x, op, n->name, 2, 1) : NULL;
    if (p) {
        p->input[0] = value_name(x, n->in[0]), p->input[1] = aligned;
        p->output[0] = x->g->values[n->out[0]].name;
    }
}

/* slimbench.FakeQuant: QuantizeLinear then DequantizeLinear with the calibrated scale and zero
 * point (u8: [0, 255]; i8: [-128, 127]); an uncalibrated one (scale 0) passes values through. */
static sb_status emit_fakequant(exporter *x, const sb_node *n)
{
    if (n->a.fq.scale == 0) {
        node_for(x, n, "Identity", 1, 1);
        return SB_OK;
    }
    int type, qmin = n->a.fq.qmin, qmax = n->a.fq.qmax, zp = n->a.fq.zero_point;
    if (qmin == 0 && qmax == 255)
        type = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    else if (qmin == -128 && qmax == 127)
        type = ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    else
        return sb_error_set(x->err, SB_ERR_UNSUPPORTED,
                            "node '%s': activation quantisation to [%d, %d] has no ONNX "
                            "QuantizeLinear equivalent (8-bit ranges only)",
                            n->name, qmin, qmax);
    uint8_t zp_byte = (uint8_t)zp;
    char *scale = scalar_init(x, n->name, "/scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                              &n->a.fq.scale, sizeof(float));
    char *zero = scalar_init(x, n->name, "/zero_point", type, &zp_byte, 1);
    char *quantized = fresh_name(x, n->name, "/quantized");
    char *qnode = fresh_name(x, n->name, "/QuantizeLinear");
    char *dqnode = fresh_name(x, n->name, "/DequantizeLinear");
    if (!scale || !zero || !quantized || !qnode || !dqnode)
        return SB_OK; /* out of memory: reported by the caller */
    Onnx__NodeProto *q = new_node(x, "QuantizeLinear", qnode, 3, 1);
    if (q) {
        q->input[0] = value_name(x, n->in[0]), q->input[1] = scale, q->input[2] = zero;
        q->output[0] = quantized;
    }
    Onnx__NodeProto *dq = new_node(x, "DequantizeLinear", dqnode, 3, 1);
    if (dq) {
        dq->input[0] = quantized, dq->input[1] = scale, dq->input[2] = zero;
        dq->output[0] = x->g->values[n->out[0]].name;
    }
    return SB_OK;
}

static sb_status emit_node(exporter *x, const sb_node *n)
{
    Onnx__NodeProto *p = NULL;
    switch (n->op) {
    case SB_OP_CONV:
    case SB_OP_MAXPOOL:
    case SB_OP_AVGPOOL:
        p = node_for(x, n, sb_op_name(n->op), n->n_in, 1);
        if (p)
            window_attrs(x, p, n);
        break;
    case SB_OP_GEMM:
        p = node_for(x, n, "Gemm", n->n_in, 1);
        attr_float(x, p, "alpha", n->a.gemm.alpha);
        attr_float(x, p, "beta", n->a.gemm.beta);
        attr_int(x, p, "transA", n->a.gemm.trans_a);
        attr_int(x, p, "transB", n->a.gemm.trans_b);
        break;
    case SB_OP_CLIP:
        emit_clip(x, n);
        break;
    case SB_OP_HARDSIGMOID:
        p = node_for(x, n, "HardSigmoid", 1, 1);
        attr_float(x, p, "alpha", n->a.hsig.alpha);
        attr_float(x, p, "beta", n->a.hsig.beta);
        break;
    case SB_OP_BATCHNORM: /* inference form: the old is_test/spatial attributes are implied */
        attr_float(x, node_for(x, n, "BatchNormalization", 5, 1), "epsilon", n->a.bn.epsilon);
        break;
    case SB_OP_SOFTMAX:
        emit_softmax(x, n);
        break;
    case SB_OP_FLATTEN:
    case SB_OP_CONCAT:
        attr_int(x, node_for(x, n, sb_op_name(n->op), n->n_in, 1), "axis", n->a.axis);
        break;
    case SB_OP_RESHAPE: /* a pre-5 shape attribute was turned into this input on loading */
        p = node_for(x, n, "Reshape", 2, 1);
        if (n->a.allowzero) /* opset >= 14, or it could not have been set */
            attr_int(x, p, "allowzero", n->a.allowzero);
        break;
    case SB_OP_ADD:
    case SB_OP_MUL:
        emit_binary(x, n);
        break;
    case SB_OP_DROPOUT: /* the engine runs it as identity: ratio and training_mode (inputs
                           from opset 12) are dropped so no reader can turn training on */
        node_for(x, n, "Dropout", 1, 1);
        break;
    case SB_OP_FAKEQUANT:
        return emit_fakequant(x, n);
    case SB_OP_CONSTANT:
        return sb_error_set(x->err, SB_ERR_INTERNAL, "node '%s': a Constant node survived loading",
                            n->name);
    default: /* MatMul, Relu, Sigmoid, HardSwish, GlobalAveragePool, Identity: no attributes */
        node_for(x, n, sb_op_name(n->op), n->n_in, n->n_out);
        break;
    }
    return SB_OK;
}

/* ---- graph inputs and outputs ---- */

/* A tensor ValueInfo; the batch dimension is the symbol "batch" when `symbolic_batch`, other
 * unknown (-1) dimensions are left unnamed. No shape at all when shape is NULL. */
static Onnx__ValueInfoProto *value_info(exporter *x, int v, const sb_shape *shape,
                                        bool symbolic_batch)
{
    Onnx__ValueInfoProto *vi = ex_alloc(x, sizeof *vi);
    Onnx__TypeProto *tp = ex_alloc(x, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(x, sizeof *tt);
    if (!vi || !tp || !tt)
        return NULL;
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    vi->name = x->g->values[v].name;
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = onnx_type_of(x->g->values[v].dtype);
    if (!shape)
        return vi;
    Onnx__TensorShapeProto *sp = ex_alloc(x, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims =
        ex_alloc(x, ((size_t)shape->rank + 1) * sizeof *dims);
    if (!sp || !dims)
        return NULL;
    *sp = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sp->dim = dims;
    tt->shape = sp;
    for (int i = 0; i < shape->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = ex_alloc(x, sizeof *d);
        if (!d)
            return NULL;
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0 && symbolic_batch) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "batch";
        } else if (shape->dim[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = shape->dim[i];
        }
        dims[sp->n_dim++] = d;
    }
    return vi;
}

static bool symbolic_batch(const sb_graph *g)
{
    return g->declared_input.rank > 0 && g->declared_input.dim[0] < 0;
}

static Onnx__ValueInfoProto **graph_inputs(exporter *x)
{
    const sb_graph *g = x->g;
    Onnx__ValueInfoProto **in = ex_alloc(x, ((size_t)g->n_inputs + 1) * sizeof *in);
    for (int i = 0; in && i < g->n_inputs; i++) {
        const sb_shape *decl = &g->input_decl[i];
        /* rank 0 is how the loader records an input declared without a shape */
        in[i] =
            value_info(x, g->inputs[i], decl->rank ? decl : NULL, decl->rank && decl->dim[0] < 0);
        x->used[g->inputs[i]] = true;
    }
    return in;
}

static Onnx__ValueInfoProto **graph_outputs(exporter *x)
{
    const sb_graph *g = x->g;
    Onnx__ValueInfoProto **out = ex_alloc(x, ((size_t)g->n_outputs + 1) * sizeof *out);
    for (int i = 0; out && i < g->n_outputs; i++) {
        int v = g->outputs[i];
        bool is_const = g->values[v].kind == SB_VAL_CONST;
        const sb_shape *s = x->shapes || is_const ? shape_of(x, v) : NULL;
        out[i] = value_info(x, v, s, s && s->rank > 0 && !is_const && symbolic_batch(g));
        x->used[v] = true;
    }
    return out;
}

/* Every constant something reads, except weights now produced by a DequantizeLinear. */
static void constant_inits(exporter *x)
{
    const sb_graph *g = x->g;
    for (int v = 0; v < g->n_values; v++) {
        const sb_value *val = &g->values[v];
        if (val->kind != SB_VAL_CONST || !x->used[v] || x->dequant[v])
            continue;
        add_init(x, val->name, onnx_type_of(val->dtype), &val->shape, val->data,
                 (size_t)sb_shape_count(&val->shape) * dtype_bytes(val->dtype));
    }
}

/* ---- the model ---- */

/* The IR version a reader needs for `opset` (never below 8). */
static int64_t ir_version_for(int64_t opset)
{
    return opset >= 23 ? 11 : opset >= 21 ? 10 : opset >= 19 ? 9 : 8;
}

static Onnx__StringStringEntryProto **metadata(exporter *x, size_t *n)
{
    const sb_graph *g = x->g;
    bool compressed = x->m->cfg.layer != NULL; /* made by sb_compress */
    Onnx__StringStringEntryProto **md = ex_alloc(x, ((size_t)g->n_meta + 2) * sizeof *md);
    *n = 0;
    for (int i = 0; md && i <= g->n_meta; i++) {
        bool ours = i == g->n_meta;
        if ((ours && !compressed) || (!ours && strcmp(g->meta[i].key, "slimbench.compressed") == 0))
            continue; /* the flag is ours to set */
        Onnx__StringStringEntryProto *e = ex_alloc(x, sizeof *e);
        if (!e)
            return NULL;
        *e = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
        e->key = ours ? "slimbench.compressed" : g->meta[i].key;
        e->value = ours ? "1" : g->meta[i].value;
        md[(*n)++] = e;
    }
    return md;
}

/* The graph's name: the model file's base name without .onnx. */
static char *graph_name(exporter *x)
{
    const char *path = x->m->path ? x->m->path : "model";
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *name = ex_strdup(x, *base ? base : "model");
    size_t len = name ? strlen(name) : 0;
    if (len > 5 && strcmp(name + len - 5, ".onnx") == 0)
        name[len - 5] = 0;
    return name;
}

static sb_status build_graph(exporter *x, Onnx__GraphProto *gp)
{
    const sb_graph *g = x->g;
    const sb_model *m = x->m;
    for (int v = 0; v < g->n_values; v++)
        PUSH(x, x->names, x->n_names, x->cap_names, g->values[v].name);
    for (int i = 0; i < g->n_nodes; i++)
        PUSH(x, x->names, x->n_names, x->cap_names, g->nodes[i].name);
    if (m->cfg.layer && m->cfg.n_layers == m->n_layers)
        for (int l = 0; l < m->n_layers; l++)
            if (m->cfg.layer[l].wbits < 32)
                emit_weight_qdq(x, l);
    for (int i = 0; i < g->n_nodes; i++) {
        sb_status s = emit_node(x, &g->nodes[i]);
        if (s)
            return s;
    }
    gp->input = graph_inputs(x);
    gp->n_input = gp->input ? (size_t)g->n_inputs : 0;
    gp->output = graph_outputs(x);
    gp->n_output = gp->output ? (size_t)g->n_outputs : 0;
    constant_inits(x);
    gp->name = graph_name(x);
    gp->node = x->nodes;
    gp->n_node = x->n_nodes;
    gp->initializer = x->inits;
    gp->n_initializer = x->n_inits;
    return SB_OK;
}

static sb_status pack_and_write(const Onnx__ModelProto *mp, const char *path, sb_error *err)
{
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory packing the model (%zu bytes)",
                            path, len);
    size_t packed = onnx__model_proto__pack(mp, buf);
    sb_status s = packed == len
                      ? sb_write_file_atomic(path, buf, len, err)
                      : sb_error_set(err, SB_ERR_INTERNAL, "%s: packed %zu bytes, expected %zu",
                                     path, packed, len);
    free(buf);
    return s;
}

sb_status sb_model_export_onnx(const sb_model *m, const char *path, sb_error *err)
{
    if (!m || !path || !*path)
        return sb_error_set(err, SB_ERR_ARG, "export: a model and an output path are needed");
    const sb_graph *g = m->g;
    exporter x = {.m = m,
                  .g = g,
                  .err = err,
                  .shapes = m->plan1 ? m->plan1->shapes : NULL,
                  .opset = g->opset > EXPORT_MIN_OPSET ? g->opset : EXPORT_MIN_OPSET,
                  .used = calloc((size_t)g->n_values + 1, sizeof(bool)),
                  .dequant = calloc((size_t)g->n_values + 1, sizeof(bool))};
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    sb_status s = x.used && x.dequant ? build_graph(&x, &gp) : SB_OK;
    if (!s && !x.nomem) {
        opset.domain = ""; /* the default domain, ai.onnx */
        opset.has_version = 1;
        opset.version = x.opset;
        mp.has_ir_version = 1;
        mp.ir_version = ir_version_for(x.opset);
        mp.producer_name = "slimbench";
        mp.n_opset_import = 1;
        mp.opset_import = opsets;
        mp.graph = &gp;
        mp.metadata_props = metadata(&x, &mp.n_metadata_props);
    }
    if (!s && (x.nomem || !x.used || !x.dequant))
        s = sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory building the ONNX model", path);
    if (!s && x.bug)
        s = sb_error_set(err, SB_ERR_INTERNAL, "%s: export failed: %s", path, x.bug);
    if (!s)
        s = pack_and_write(&mp, path, err);
    else
        sb_error_prefix(err, "%s: ", path);
    for (size_t i = 0; i < x.n_allocs; i++)
        free(x.allocs[i]);
    free(x.allocs);
    free(x.nodes);
    free(x.inits);
    free(x.names);
    free(x.used);
    free(x.dequant);
    return s;
}
