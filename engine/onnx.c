/* ONNX ModelProto → sb_graph. Decoding is one protobuf-c call; this file validates what the
 * file declares and converts it into the engine's own graph, resolving opset differences. */
#include "graph.h"
#include "onnx_tensor.h"

#include "onnx.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

/* Messages name a node by its name, or by its op type when it has none. */
#define NAME(pn) ((pn)->name && *(pn)->name ? (pn)->name : (pn)->op_type)

static const char *const op_names[SB_OP_COUNT] = {
#define SB_X(name, text) [SB_OP_##name] = text,
    SB_OP_LIST(SB_X)
#undef SB_X
};

const char *sb_op_name(sb_op op) { return (unsigned)op < SB_OP_COUNT ? op_names[op] : "?"; }

const char *sb_supported_ops(void)
{
    static char list[512];
    if (!list[0])
        for (int i = 0; i < SB_OP_FAKEQUANT; i++) {
            strcat(list, i ? ", " : "");
            strcat(list, op_names[i]);
        }
    return list;
}

static int op_from_name(const char *type)
{
    for (int i = 0; i < SB_OP_FAKEQUANT; i++) /* internal ops are not read from files */
        if (strcmp(type, op_names[i]) == 0)
            return i;
    return -1;
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

/* Reads an INTS attribute of exactly `want` entries (or none) into out. */
static sb_status attr_ints(const Onnx__NodeProto *n, const char *name, int want, int *out,
                           bool *present, sb_error *err)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    *present = a != NULL;
    if (!a)
        return SB_OK;
    if ((int)a->n_ints != want)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "node '%s' (%s): attribute %s has %zu values, expected %d",
                            NAME(n), n->op_type, name, a->n_ints, want);
    for (int i = 0; i < want; i++) {
        if (a->ints[i] < 0 || a->ints[i] > SB_MAX_KERNEL)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "node '%s' (%s): attribute %s value %lld is out of range",
                                NAME(n), n->op_type, name, (long long)a->ints[i]);
        out[i] = (int)a->ints[i];
    }
    return SB_OK;
}

static sb_status parse_autopad(const Onnx__NodeProto *n, sb_window *w, sb_error *err)
{
    const Onnx__AttributeProto *a = find_attr(n, "auto_pad");
    w->auto_pad = SB_PAD_NOTSET;
    if (!a || !a->has_s || a->s.len == 0)
        return SB_OK;
    static const struct { const char *s; sb_autopad v; } modes[] = {
        {"NOTSET", SB_PAD_NOTSET}, {"SAME_UPPER", SB_PAD_SAME_UPPER},
        {"SAME_LOWER", SB_PAD_SAME_LOWER}, {"VALID", SB_PAD_VALID}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (a->s.len == strlen(modes[i].s) && memcmp(a->s.data, modes[i].s, a->s.len) == 0) {
            w->auto_pad = modes[i].v;
            return SB_OK;
        }
    return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (%s): unknown auto_pad '%.*s'", NAME(n),
                        n->op_type, (int)a->s.len, (const char *)a->s.data);
}

/* Spatial rank comes from kernel_shape (pools) or, for Conv, from the weight's rank later. */
static sb_status parse_window(const Onnx__NodeProto *n, int spatial, sb_window *w, sb_error *err)
{
    bool present;
    memset(w, 0, sizeof *w);
    w->spatial = spatial;
    for (int i = 0; i < 2; i++)
        w->stride[i] = w->dilation[i] = 1;
    w->group = (int)attr_int(n, "group", 1);
    w->ceil_mode = (int)attr_int(n, "ceil_mode", 0);
    w->count_include_pad = (int)attr_int(n, "count_include_pad", 0);
    if (w->group < 1)
        return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (%s): group must be >= 1", n->name,
                            n->op_type);
    int pads[4] = {0};
    sb_status s;
    if ((s = attr_ints(n, "kernel_shape", spatial, w->kernel, &present, err)) ||
        (s = attr_ints(n, "strides", spatial, w->stride, &present, err)) ||
        (s = attr_ints(n, "dilations", spatial, w->dilation, &present, err)) ||
        (s = attr_ints(n, "pads", 2 * spatial, pads, &present, err)))
        return s;
    for (int i = 0; i < spatial; i++) {
        w->pad_begin[i] = pads[i];
        w->pad_end[i] = pads[spatial + i];
        if (w->stride[i] < 1 || w->dilation[i] < 1)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "node '%s' (%s): strides and dilations must be >= 1", n->name,
                                n->op_type);
    }
    if (spatial == 1) { /* 1-D is run as 2-D with a unit height */
        w->kernel[1] = w->kernel[0], w->kernel[0] = 1;
        w->stride[1] = w->stride[0], w->stride[0] = 1;
        w->dilation[1] = w->dilation[0], w->dilation[0] = 1;
        w->pad_begin[1] = w->pad_begin[0], w->pad_begin[0] = 0;
        w->pad_end[1] = w->pad_end[0], w->pad_end[0] = 0;
    }
    return parse_autopad(n, w, err);
}

/* Rank of a Conv's weight: a constant, a declared input, or either reached through Identity
 * (PyTorch shares equal initializers that way; the Identity is folded only later). */
static int weight_rank(const sb_graph *g, int v)
{
    for (int hops = 0; v >= 0 && hops < 64; hops++) {
        const sb_value *val = &g->values[v];
        if (val->kind != SB_VAL_ACT)
            return val->shape.rank;
        const sb_node *p = val->producer >= 0 ? &g->nodes[val->producer] : NULL;
        if (!p || (p->op != SB_OP_IDENTITY && p->op != SB_OP_DROPOUT) || p->n_in < 1)
            return -1;
        v = p->in[0];
    }
    return -1;
}

/* The number of spatial dims a window op works on: from kernel_shape, else the weight. */
static int window_rank(const Onnx__NodeProto *n, const sb_graph *g, int weight)
{
    const Onnx__AttributeProto *k = find_attr(n, "kernel_shape");
    if (k)
        return (int)k->n_ints;
    int r = weight >= 0 ? weight_rank(g, weight) : -1;
    return r >= 2 ? r - 2 : -1;
}

static sb_status parse_window_op(const Onnx__NodeProto *pn, sb_graph *g, sb_node *n,
                                 sb_error *err)
{
    int rank = window_rank(pn, g, n->op == SB_OP_CONV && n->n_in > 1 ? n->in[1] : -1);
    if (rank != 1 && rank != 2)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "node '%s' (%s): %d-D windows are not supported (1-D and 2-D are)%s",
                            NAME(pn), pn->op_type, rank,
                            rank < 0 ? "; the weight must be a constant" : "");
    sb_status s = parse_window(pn, rank, &n->a.win, err);
    if (s)
        return s;
    if (n->op == SB_OP_MAXPOOL && attr_int(pn, "storage_order", 0) != 0)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "node '%s' (MaxPool): storage_order=1 is not supported", NAME(pn));
    if (n->op != SB_OP_CONV && !find_attr(pn, "kernel_shape"))
        return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (%s): kernel_shape is required",
                            NAME(pn), pn->op_type);
    return SB_OK;
}

/* Reshape before opset 5 took the shape as an attribute: make it the constant input later
 * versions have. */
static sb_status reshape_shape_attr(const Onnx__NodeProto *pn, sb_graph *g, sb_node *n,
                                    sb_error *err)
{
    const Onnx__AttributeProto *a = find_attr(pn, "shape");
    if (!a || n->n_in != 1)
        return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (Reshape): attribute shape is missing",
                            NAME(pn));
    char name[300];
    snprintf(name, sizeof name, "%s:shape", n->name);
    int v = sb_graph_add_value(g, name, SB_VAL_CONST);
    int *in = realloc(n->in, 3 * sizeof *in);
    int64_t *data = malloc((a->n_ints + 1) * sizeof *data);
    if (v < 0 || !in || !data) {
        free(data);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    memcpy(data, a->ints, a->n_ints * sizeof *data);
    n->in = in;
    n->in[n->n_in++] = v;
    g->values[v].dtype = SB_I64;
    g->values[v].shape = (sb_shape){.rank = 1, .dim = {(int64_t)a->n_ints}};
    g->values[v].data = data;
    return SB_OK;
}

static sb_status parse_attrs(const Onnx__NodeProto *pn, sb_graph *g, sb_node *n, sb_error *err)
{
    switch (n->op) {
    case SB_OP_CONV:
    case SB_OP_MAXPOOL:
    case SB_OP_AVGPOOL:
        return parse_window_op(pn, g, n, err);
    case SB_OP_GEMM:
        n->a.gemm.alpha = attr_float(pn, "alpha", 1.0f);
        n->a.gemm.beta = attr_float(pn, "beta", 1.0f);
        n->a.gemm.trans_a = attr_int(pn, "transA", 0) != 0; /* indexes dims: 0 or 1 only */
        n->a.gemm.trans_b = attr_int(pn, "transB", 0) != 0;
        break;
    case SB_OP_CLIP:
        n->a.clip.min = attr_float(pn, "min", -__builtin_inff());
        n->a.clip.max = attr_float(pn, "max", __builtin_inff());
        break;
    case SB_OP_HARDSIGMOID:
        n->a.hsig.alpha = attr_float(pn, "alpha", 0.2f);
        n->a.hsig.beta = attr_float(pn, "beta", 0.5f);
        break;
    case SB_OP_BATCHNORM:
        n->a.bn.epsilon = attr_float(pn, "epsilon", 1e-5f);
        if (attr_int(pn, "training_mode", 0) || pn->n_output > 1)
            return sb_error_set(err, SB_ERR_UNSUPPORTED,
                                "node '%s' (BatchNormalization): training mode is not supported; "
                                "export the model in eval mode",
                                NAME(pn));
        break;
    case SB_OP_SOFTMAX:
        n->a.axis = (int)attr_int(pn, "axis", g->opset >= 13 ? -1 : 1);
        break;
    case SB_OP_FLATTEN:
        n->a.axis = (int)attr_int(pn, "axis", 1);
        break;
    case SB_OP_CONCAT:
        if (!find_attr(pn, "axis"))
            if (g->opset >= 4)
                return sb_error_set(err, SB_ERR_FORMAT,
                                    "node '%s' (Concat): attribute axis is missing", NAME(pn));
        n->a.axis = (int)attr_int(pn, "axis", 1); /* opset < 4 defaulted to 1 */
        break;
    case SB_OP_RESHAPE:
        n->a.allowzero = (int)attr_int(pn, "allowzero", 0);
        return g->opset < 5 ? reshape_shape_attr(pn, g, n, err) : SB_OK;
    case SB_OP_ADD:
    case SB_OP_MUL: /* before opset 7: broadcast=1 aligns B with A at `axis` */
        n->a.axis = g->opset < 7 && attr_int(pn, "broadcast", 0) && find_attr(pn, "axis")
                        ? (int)attr_int(pn, "axis", 0)
                        : SB_NUMPY_BROADCAST;
        break;
    default:
        break;
    }
    return SB_OK;
}

/* ---- initializers and Constant nodes ---- */

static sb_status add_const(sb_graph *g, Onnx__TensorProto *t, const char *name, sb_error *err)
{
    sb_tensor tensor;
    sb_status s = sb_tensor_take_onnx(t, &tensor, err);
    if (s)
        return s;
    int v = sb_graph_find_value(g, name);
    if (v >= 0 && g->values[v].kind == SB_VAL_CONST) {
        sb_tensor_free(&tensor);
        return sb_error_set(err, SB_ERR_FORMAT, "initializer '%s' is defined twice", name);
    }
    if (v < 0)
        v = sb_graph_add_value(g, name, SB_VAL_CONST);
    if (v < 0) {
        sb_tensor_free(&tensor);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory loading initializer '%s'", name);
    }
    g->values[v].kind = SB_VAL_CONST;
    g->values[v].dtype = tensor.dtype;
    g->values[v].shape = tensor.shape;
    g->values[v].data = tensor.data;
    return SB_OK;
}

static sb_status constant_node(sb_graph *g, const Onnx__NodeProto *pn, sb_error *err)
{
    const Onnx__AttributeProto *a = find_attr(pn, "value");
    if (pn->n_output != 1)
        return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (Constant): needs exactly one output",
                            NAME(pn));
    int v = sb_graph_find_value(g, pn->output[0]);
    if (v >= 0 && (g->values[v].kind != SB_VAL_ACT || g->values[v].producer >= 0))
        return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (Constant): output '%s' is defined twice",
                            NAME(pn), pn->output[0]);
    if (a && a->t)
        return add_const(g, a->t, pn->output[0], err);
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    float f;
    int64_t i, dim;
    if ((a = find_attr(pn, "value_float")) && a->has_f) {
        f = a->f, t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t.n_float_data = 1, t.float_data = &f;
    } else if ((a = find_attr(pn, "value_int")) && a->has_i) {
        i = a->i, t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        t.n_int64_data = 1, t.int64_data = &i;
    } else if ((a = find_attr(pn, "value_floats"))) {
        dim = (int64_t)a->n_floats;
        t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, t.n_dims = 1, t.dims = &dim;
        t.n_float_data = a->n_floats, t.float_data = a->floats;
    } else if ((a = find_attr(pn, "value_ints"))) {
        dim = (int64_t)a->n_ints;
        t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64, t.n_dims = 1, t.dims = &dim;
        t.n_int64_data = a->n_ints, t.int64_data = a->ints;
    } else {
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "node '%s' (Constant): only tensor, float(s) and int(s) values are "
                            "supported",
                            NAME(pn));
    }
    t.has_data_type = 1;
    return add_const(g, &t, pn->output[0], err);
}

/* ---- graph inputs, outputs, metadata ---- */

static sb_status read_shape(const Onnx__ValueInfoProto *vi, sb_shape *shape, sb_dtype *dt,
                            sb_error *err)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return sb_error_set(err, SB_ERR_UNSUPPORTED, "graph input '%s' is not a tensor",
                            vi->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    sb_status s = sb_dtype_from_onnx(tt->elem_type, dt, vi->name, err);
    if (s)
        return s;
    memset(shape, 0, sizeof *shape);
    if (!tt->shape)
        return SB_OK;
    if (tt->shape->n_dim > SB_MAX_RANK)
        return sb_error_set(err, SB_ERR_UNSUPPORTED, "graph input '%s' has rank %zu (max %d)",
                            vi->name, tt->shape->n_dim, SB_MAX_RANK);
    shape->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < shape->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        bool known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (known && (d->dim_value < 0 || d->dim_value > (1 << 30)))
            return sb_error_set(err, SB_ERR_FORMAT, "graph input '%s': dimension %d is %lld",
                                vi->name, i, (long long)d->dim_value);
        shape->dim[i] = known ? d->dim_value : -1;
    }
    if (!sb_shape_within_limits(shape)) {
        char buf[160];
        return sb_error_set(err, SB_ERR_FORMAT,
                            "graph input '%s': shape %s holds more than %lld elements", vi->name,
                            sb_shape_str(shape, buf, sizeof buf), (long long)SB_MAX_ELEMS);
    }
    return SB_OK;
}

static sb_status read_inputs(sb_graph *g, const Onnx__GraphProto *gp, sb_error *err)
{
    g->inputs = calloc(gp->n_input + 1, sizeof *g->inputs);
    g->input_decl = calloc(gp->n_input + 1, sizeof *g->input_decl);
    if (!g->inputs || !g->input_decl)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = gp->input[i]->name;
        if (!name || !*name)
            return sb_error_set(err, SB_ERR_FORMAT, "graph input %zu has no name", i);
        int v = sb_graph_find_value(g, name);
        if (v >= 0 && g->values[v].kind == SB_VAL_CONST)
            continue; /* older exporters list initializers as inputs too */
        if (v >= 0)
            return sb_error_set(err, SB_ERR_FORMAT, "graph input '%s' is listed twice", name);
        sb_shape shape;
        sb_dtype dt;
        sb_status s = read_shape(gp->input[i], &shape, &dt, err);
        if (s)
            return s;
        if (v < 0 && (v = sb_graph_add_value(g, name, SB_VAL_INPUT)) < 0)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        g->values[v].shape = shape;
        g->values[v].dtype = dt;
        if (g->n_inputs == 0)
            g->declared_input = shape;
        g->input_decl[g->n_inputs] = shape;
        g->inputs[g->n_inputs++] = v;
    }
    return SB_OK;
}

static sb_status read_meta(sb_graph *g, const Onnx__ModelProto *mp, sb_error *err)
{
    g->meta = calloc(mp->n_metadata_props + 1, sizeof *g->meta);
    if (!g->meta)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e->key)
            continue;
        g->meta[g->n_meta].key = strdup(e->key);
        g->meta[g->n_meta].value = strdup(e->value ? e->value : "");
        if (!g->meta[g->n_meta].key || !g->meta[g->n_meta].value)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        g->n_meta++;
    }
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0) && o->has_version)
            g->opset = o->version;
    }
    if (g->opset == 0)
        g->opset = 1;
    return SB_OK;
}

/* ---- nodes ---- */

static int value_for_input(sb_graph *g, const char *name)
{
    if (!name || !*name)
        return -1; /* omitted optional input */
    int v = sb_graph_find_value(g, name);
    return v >= 0 ? v : -2;
}

static sb_status add_node(sb_graph *g, const Onnx__NodeProto *pn, int index, sb_error *err)
{
    const char *type = pn->op_type ? pn->op_type : "";
    if (pn->domain && *pn->domain && strcmp(pn->domain, "ai.onnx") != 0)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "node '%s': operator %s of domain '%s' is not supported (only the "
                            "default ONNX domain is)",
                            pn->name ? pn->name : "", type, pn->domain);
    int op = op_from_name(type);
    if (op < 0)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "node '%s': operator %s (opset %lld) is not supported; supported "
                            "operators: %s",
                            pn->name ? pn->name : "", type, (long long)g->opset,
                            sb_supported_ops());
    if (op == SB_OP_CONSTANT)
        return constant_node(g, pn, err);
    sb_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    char fallback[32];
    snprintf(fallback, sizeof fallback, "%s_%d", type, index);
    n->name = strdup(pn->name && *pn->name ? pn->name : fallback);
    n->op = (sb_op)op;
    n->n_in = (int)pn->n_input;
    n->n_out = (int)pn->n_output;
    n->in = calloc(pn->n_input + 1, sizeof *n->in);
    n->out = calloc(pn->n_output + 1, sizeof *n->out);
    g->n_nodes++;
    if (!n->name || !n->in || !n->out)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n->n_in; i++)
        if ((n->in[i] = value_for_input(g, pn->input[i])) == -2)
            n->in[i] = sb_graph_add_value(g, pn->input[i], SB_VAL_ACT); /* produced later, or dangling */
    for (int i = 0; i < n->n_out; i++) {
        const char *name = pn->output[i];
        if (!name || !*name) {
            n->out[i] = -1;
            continue;
        }
        int v = sb_graph_find_value(g, name);
        if (v >= 0 && (g->values[v].producer >= 0 || g->values[v].kind != SB_VAL_ACT))
            return sb_error_set(err, SB_ERR_FORMAT, "node '%s': output '%s' is defined twice",
                                n->name, name);
        if (v < 0 && (v = sb_graph_add_value(g, name, SB_VAL_ACT)) < 0)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        g->values[v].producer = g->n_nodes - 1;
        n->out[i] = v;
    }
    return parse_attrs(pn, g, n, err);
}

static sb_status read_outputs(sb_graph *g, const Onnx__GraphProto *gp, sb_error *err)
{
    g->outputs = calloc(gp->n_output + 1, sizeof *g->outputs);
    if (!g->outputs)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_output; i++) {
        int v = gp->output[i]->name ? sb_graph_find_value(g, gp->output[i]->name) : -1;
        if (v < 0)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "graph output '%s' is not produced by any node",
                                gp->output[i]->name ? gp->output[i]->name : "");
        g->outputs[g->n_outputs++] = v;
    }
    if (g->n_outputs == 0)
        return sb_error_set(err, SB_ERR_FORMAT, "the graph has no output");
    return SB_OK;
}

/* ---- clean-up passes ---- */

static sb_status check_defined(const sb_graph *g, sb_error *err)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (v >= 0 && g->values[v].kind == SB_VAL_ACT && g->values[v].producer < 0)
                return sb_error_set(err, SB_ERR_FORMAT,
                                    "node '%s': input '%s' is not produced by any node, "
                                    "initializer or graph input",
                                    g->nodes[i].name, g->values[v].name);
        }
    return SB_OK;
}

/* Kahn's algorithm: puts nodes in dependency order and rejects cycles. */
static sb_status topo_sort(sb_graph *g, sb_error *err)
{
    int n = g->n_nodes;
    int *pending = calloc((size_t)n + 1, sizeof *pending);
    int *order = calloc((size_t)n + 1, sizeof *order);
    sb_node *sorted = calloc((size_t)n + 1, sizeof *sorted);
    if (!pending || !order || !sorted) {
        free(pending), free(order), free(sorted);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            pending[i] += v >= 0 && g->values[v].producer >= 0;
        }
    int head = 0, tail = 0;
    for (int i = 0; i < n; i++)
        if (!pending[i])
            order[tail++] = i;
    while (head < tail) {
        const sb_node *p = &g->nodes[order[head++]];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < g->nodes[i].n_in; j++) {
                int v = g->nodes[i].in[j];
                if (v < 0 || g->values[v].producer < 0)
                    continue;
                for (int k = 0; k < p->n_out; k++)
                    if (p->out[k] == v && --pending[i] == 0)
                        order[tail++] = i;
            }
    }
    sb_status s = SB_OK;
    if (tail < n) {
        int stuck = 0;
        while (stuck < n && !pending[stuck])
            stuck++;
        s = sb_error_set(err, SB_ERR_FORMAT, "the graph has a cycle through node '%s'",
                         g->nodes[stuck].name);
    } else {
        for (int i = 0; i < n; i++)
            sorted[i] = g->nodes[order[i]];
        memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < g->nodes[i].n_out; k++)
                if (g->nodes[i].out[k] >= 0)
                    g->values[g->nodes[i].out[k]].producer = i;
    }
    free(pending), free(order), free(sorted);
    return s;
}

static void count_consumers(sb_graph *g)
{
    for (int i = 0; i < g->n_values; i++)
        g->values[i].consumers = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] >= 0)
                g->values[g->nodes[i].in[j]].consumers++;
    for (int i = 0; i < g->n_outputs; i++)
        g->values[g->outputs[i]].consumers++;
}

/* Initializers' payloads are moved out of mp into the graph. */
static sb_status build(sb_graph *g, Onnx__ModelProto *mp, sb_error *err)
{
    const Onnx__GraphProto *gp = mp->graph;
    sb_status s;
    if (!gp)
        return sb_error_set(err, SB_ERR_FORMAT, "the file holds no graph");
    if ((s = read_meta(g, mp, err)))
        return s;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const char *name = gp->initializer[i]->name;
        if (!name || !*name)
            return sb_error_set(err, SB_ERR_FORMAT, "initializer %zu has no name", i);
        if ((s = add_const(g, gp->initializer[i], name, err)))
            return s;
    }
    if (gp->n_sparse_initializer)
        return sb_error_set(err, SB_ERR_UNSUPPORTED, "sparse initializers are not supported");
    if ((s = read_inputs(g, gp, err)))
        return s;
    g->nodes = calloc(gp->n_node + 1, sizeof *g->nodes);
    if (!g->nodes)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_node; i++)
        if ((s = add_node(g, gp->node[i], (int)i, err)))
            return s;
    if ((s = read_outputs(g, gp, err)) || (s = check_defined(g, err)) ||
        (s = topo_sort(g, err)) || (s = sb_graph_fold_identities(g, err)))
        return s;
    count_consumers(g);
    return SB_OK;
}

/* owned (buf itself, or NULL) is freed as soon as the protobuf is decoded. */
static sb_status from_onnx(const void *buf, size_t len, void *owned, const char *name,
                           sb_graph **out, sb_error *err)
{
    *out = NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(owned);
    if (!mp)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: not a valid ONNX model (the protobuf could not be decoded; the "
                            "file may be truncated or of another kind)",
                            name);
    sb_graph *g = calloc(1, sizeof *g);
    sb_status s = g ? build(g, mp, err) : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s) {
        sb_error_prefix(err, "%s: ", name);
        sb_graph_free(g);
        return s;
    }
    *out = g;
    return SB_OK;
}

sb_status sb_graph_from_onnx(const void *buf, size_t len, const char *name, sb_graph **out,
                             sb_error *err)
{
    return from_onnx(buf, len, NULL, name, out, err);
}

sb_status sb_graph_from_onnx_owned(void *buf, size_t len, const char *name, sb_graph **out,
                                   sb_error *err)
{
    return from_onnx(buf, len, buf, name, out, err);
}
