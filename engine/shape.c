/* Shape inference for the supported operators. Runs for every batch size a plan is built for;
 * window ops resolve auto_pad into explicit pads here, since those depend on the input size. */
#include "graph.h"

#include <string.h>

#define SHAPE_ERR(g, n, ...)                                                                       \
    sb_error_set(err, SB_ERR_SHAPE, "node '%s' (%s): " __VA_ARGS__)

bool sb_shape_within_limits(const sb_shape *s)
{
    if (s->rank < 0 || s->rank > SB_MAX_RANK)
        return false;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] < -1 || s->dim[i] > SB_MAX_DIM)
            return false;
        if (s->dim[i] > 0 && (n *= s->dim[i]) > SB_MAX_ELEMS) /* both < 2^31: no overflow */
            return false;
    }
    return true;
}

static const sb_shape *in_shape(const sb_graph *g, const sb_node *n, int i)
{
    return &g->values[n->in[i]].shape;
}

static sb_status need_inputs(const sb_graph *g, const sb_node *n, int lo, int hi, sb_error *err)
{
    int have = 0;
    while (have < n->n_in && n->in[have] >= 0)
        have++;
    if (have < lo || n->n_in > hi)
        return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (%s): takes %d to %d inputs, has %d",
                            n->name, sb_op_name(n->op), lo, hi, n->n_in);
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && g->values[n->in[i]].dtype != SB_F32 && !(n->op == SB_OP_RESHAPE && i == 1))
            return sb_error_set(err, SB_ERR_UNSUPPORTED,
                                "node '%s' (%s): input '%s' is not float32", n->name,
                                sb_op_name(n->op), g->values[n->in[i]].name);
    return SB_OK;
}

/* numpy-style multidirectional broadcasting. */
static sb_status broadcast(const sb_node *n, const sb_shape *a, const sb_shape *b, sb_shape *out,
                           sb_error *err)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[96], sbuf[96];
            return sb_error_set(err, SB_ERR_SHAPE,
                                "node '%s' (%s): shapes %s and %s cannot be broadcast together",
                                n->name, sb_op_name(n->op), sb_shape_str(a, sa, sizeof sa),
                                sb_shape_str(b, sbuf, sizeof sbuf));
        }
        out->dim[i] = da == 1 ? db : da;
    }
    return SB_OK;
}

static int64_t window_out(int64_t in, int k, int s, int d, int pb, int pe, int ceil_mode)
{
    int64_t span = (int64_t)(k - 1) * d + 1, room = in + pb + pe - span;
    if (room < 0)
        return 0;
    int64_t out = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pb) /* the last window must start inside */
        out--;
    return out;
}

/* False when the padding auto_pad asks for is beyond SB_MAX_KERNEL (a huge kernel or
 * dilation on a huge input). */
static bool resolve_autopad(sb_window *w, int axis, int64_t in)
{
    if (w->auto_pad == SB_PAD_NOTSET)
        return true;
    if (w->auto_pad == SB_PAD_VALID) {
        w->pad_begin[axis] = w->pad_end[axis] = 0;
        return true;
    }
    int64_t out = (in + w->stride[axis] - 1) / w->stride[axis];
    int64_t span = (int64_t)(w->kernel[axis] - 1) * w->dilation[axis] + 1;
    int64_t total = (out - 1) * w->stride[axis] + span - in;
    if (total < 0)
        total = 0;
    if (total > 2 * (int64_t)SB_MAX_KERNEL)
        return false;
    int small = (int)(total / 2), big = (int)(total - total / 2);
    w->pad_begin[axis] = w->auto_pad == SB_PAD_SAME_UPPER ? small : big;
    w->pad_end[axis] = w->auto_pad == SB_PAD_SAME_UPPER ? big : small;
    return true;
}

static sb_status infer_window(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    const sb_shape *x = in_shape(g, n, 0);
    sb_window *w = &n->a.win;
    if (x->rank != w->spatial + 2)
        return SHAPE_ERR(g, n, "input has rank %d, expected %d", n->name, sb_op_name(n->op),
                         x->rank, w->spatial + 2);
    int64_t in_hw[2] = {w->spatial == 1 ? 1 : x->dim[2], x->dim[x->rank - 1]};
    int64_t channels = x->dim[1];
    if (n->op == SB_OP_CONV) {
        const sb_value *wt = &g->values[n->in[1]];
        if (wt->shape.rank != x->rank)
            return SHAPE_ERR(g, n, "weight has rank %d, input %d", n->name, "Conv",
                             wt->shape.rank, x->rank);
        int64_t kh = w->spatial == 1 ? 1 : wt->shape.dim[2], kw = wt->shape.dim[wt->shape.rank - 1];
        if (kh < 1 || kw < 1 || kh > SB_MAX_KERNEL || kw > SB_MAX_KERNEL)
            return SHAPE_ERR(g, n, "weight kernel %lldx%lld is out of range (1 to %d)", n->name,
                             "Conv", (long long)kh, (long long)kw, SB_MAX_KERNEL);
        w->kernel[0] = (int)kh;
        w->kernel[1] = (int)kw;
        if (wt->shape.dim[1] * w->group != x->dim[1] || wt->shape.dim[0] % w->group)
            return SHAPE_ERR(g, n,
                             "input has %lld channels but the weight expects %lld x group %d",
                             n->name, "Conv", (long long)x->dim[1], (long long)wt->shape.dim[1],
                             w->group);
        if (n->n_in > 2 && n->in[2] >= 0 &&
            sb_shape_count(&g->values[n->in[2]].shape) != wt->shape.dim[0])
            return SHAPE_ERR(g, n, "bias has %lld values for %lld output channels", n->name,
                             "Conv", (long long)sb_shape_count(&g->values[n->in[2]].shape),
                             (long long)wt->shape.dim[0]);
        channels = wt->shape.dim[0];
    }
    *out = *x;
    out->dim[1] = channels;
    for (int a = 0; a < 2; a++) {
        if (!resolve_autopad(w, a, in_hw[a]))
            return SHAPE_ERR(g, n, "auto_pad asks for more than %d padding", n->name,
                             sb_op_name(n->op), 2 * SB_MAX_KERNEL);
        int64_t o = window_out(in_hw[a], w->kernel[a], w->stride[a], w->dilation[a],
                               w->pad_begin[a], w->pad_end[a], w->ceil_mode);
        if (o <= 0)
            return SHAPE_ERR(g, n, "the window is larger than the padded input", n->name,
                             sb_op_name(n->op));
        if (w->spatial == 2)
            out->dim[2 + a] = o;
        else if (a == 1) /* 1-D: the only spatial axis is stored as width */
            out->dim[2] = o;
    }
    return SB_OK;
}

static sb_status infer_gemm(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    const sb_shape *a = in_shape(g, n, 0), *b = in_shape(g, n, 1);
    if (a->rank != 2 || b->rank != 2)
        return SHAPE_ERR(g, n, "inputs must be 2-D (have %d-D and %d-D)", n->name, "Gemm",
                         a->rank, b->rank);
    int64_t m = a->dim[n->a.gemm.trans_a], k = a->dim[!n->a.gemm.trans_a];
    int64_t kb = b->dim[n->a.gemm.trans_b], nn = b->dim[!n->a.gemm.trans_b];
    if (k != kb)
        return SHAPE_ERR(g, n, "inner dimensions differ (%lld vs %lld)", n->name, "Gemm",
                         (long long)k, (long long)kb);
    *out = (sb_shape){.rank = 2, .dim = {m, nn}};
    if (n->n_in > 2 && n->in[2] >= 0) {
        sb_shape bc;
        sb_status s = broadcast(n, out, in_shape(g, n, 2), &bc, err);
        if (s)
            return s;
        if (bc.dim[0] != m || bc.dim[1] != nn)
            return SHAPE_ERR(g, n, "bias C does not broadcast to the output", n->name, "Gemm");
    }
    return SB_OK;
}

static sb_status infer_matmul(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    sb_shape a = *in_shape(g, n, 0), b = *in_shape(g, n, 1);
    if (a.rank < 1 || b.rank < 1)
        return SHAPE_ERR(g, n, "inputs must have rank >= 1", n->name, "MatMul");
    bool a1 = a.rank == 1, b1 = b.rank == 1;
    if (a1)
        a = (sb_shape){.rank = 2, .dim = {1, a.dim[0]}};
    if (b1)
        b = (sb_shape){.rank = 2, .dim = {b.dim[0], 1}};
    if (a.dim[a.rank - 1] != b.dim[b.rank - 2])
        return SHAPE_ERR(g, n, "inner dimensions differ (%lld vs %lld)", n->name, "MatMul",
                         (long long)a.dim[a.rank - 1], (long long)b.dim[b.rank - 2]);
    sb_shape ba = a, bb = b, batch;
    ba.rank -= 2, bb.rank -= 2;
    sb_status s = broadcast(n, &ba, &bb, &batch, err);
    if (s)
        return s;
    *out = batch;
    if (!a1)
        out->dim[out->rank++] = a.dim[a.rank - 2];
    if (!b1)
        out->dim[out->rank++] = b.dim[b.rank - 1];
    return SB_OK;
}

static int norm_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

static sb_status infer_flatten(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    const sb_shape *x = in_shape(g, n, 0);
    int axis = norm_axis(n->a.axis, x->rank);
    if (axis < 0 || axis > x->rank)
        return SHAPE_ERR(g, n, "axis %d is out of range for rank %d", n->name, "Flatten",
                         n->a.axis, x->rank);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < x->rank; i++)
        *(i < axis ? &outer : &inner) *= x->dim[i];
    *out = (sb_shape){.rank = 2, .dim = {outer, inner}};
    return SB_OK;
}

/* A Reshape to a constant shape exported at batch 1 still works at other batch sizes when its
 * first entry is that batch and the input's first dim is the current batch. */
static int64_t batch_fixup(const sb_graph *g, const sb_shape *x, int64_t want0)
{
    int64_t declared = g->declared_input.rank ? g->declared_input.dim[0] : -1;
    int64_t current = g->values[g->inputs[0]].shape.dim[0];
    if (declared > 0 && want0 == declared && x->rank > 0 && x->dim[0] == current)
        return current;
    return want0;
}

static sb_status infer_reshape(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    const sb_shape *x = in_shape(g, n, 0);
    const sb_value *sv = &g->values[n->in[1]];
    if (!sv->data || sv->dtype != SB_I64 || sv->shape.rank != 1)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "node '%s' (Reshape): the target shape must be a constant 1-D int64 "
                            "tensor (computed shapes are not supported; export with "
                            "torch.flatten or a constant shape)",
                            n->name);
    const int64_t *want = sv->data;
    if (sv->shape.dim[0] > SB_MAX_RANK)
        return SHAPE_ERR(g, n, "target rank %lld is too large (at most %d)", n->name, "Reshape",
                         (long long)sv->shape.dim[0], SB_MAX_RANK);
    int r = (int)sv->shape.dim[0];
    int64_t total = sb_shape_count(x), known = 1;
    int infer = -1;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int64_t d = i == 0 ? batch_fixup(g, x, want[0]) : want[i];
        if (d == 0 && !n->a.allowzero)
            d = i < x->rank ? x->dim[i] : 0;
        if (d == -1) {
            if (infer >= 0)
                return SHAPE_ERR(g, n, "more than one -1 in the target shape", n->name,
                                 "Reshape");
            infer = i;
            d = 1;
        } else if (d < 0)
            return SHAPE_ERR(g, n, "negative dimension %lld", n->name, "Reshape", (long long)d);
        if (d > SB_MAX_DIM || sb_mul_overflows(known, d, &known) || known > SB_MAX_ELEMS)
            return SHAPE_ERR(g, n, "target dimension %d (%lld) makes the shape too large", n->name,
                             "Reshape", i, (long long)d);
        out->dim[i] = d;
    }
    if (infer >= 0)
        out->dim[infer] = known ? total / known : 0;
    if (sb_shape_count(out) != total) {
        char a[96], b[96];
        return SHAPE_ERR(g, n, "cannot reshape %s into %s", n->name, "Reshape",
                         sb_shape_str(x, a, sizeof a), sb_shape_str(out, b, sizeof b));
    }
    return SB_OK;
}

static sb_status infer_concat(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    *out = *in_shape(g, n, 0);
    int axis = norm_axis(n->a.axis, out->rank);
    if (axis < 0 || axis >= out->rank)
        return SHAPE_ERR(g, n, "axis %d is out of range for rank %d", n->name, "Concat",
                         n->a.axis, out->rank);
    for (int i = 1; i < n->n_in; i++) {
        const sb_shape *s = in_shape(g, n, i);
        bool same = s->rank == out->rank;
        for (int d = 0; same && d < s->rank; d++)
            same = d == axis || s->dim[d] == out->dim[d];
        if (!same)
            return SHAPE_ERR(g, n, "input %d does not match the others off the concat axis",
                             n->name, "Concat", i);
        out->dim[axis] += s->dim[axis];
    }
    return SB_OK;
}

static sb_status infer_bn(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    *out = *in_shape(g, n, 0);
    if (out->rank < 2)
        return SHAPE_ERR(g, n, "input must have a channel axis", n->name, "BatchNormalization");
    for (int i = 1; i < 5; i++)
        if (sb_shape_count(in_shape(g, n, i)) != out->dim[1])
            return SHAPE_ERR(g, n, "parameter %d has %lld values for %lld channels", n->name,
                             "BatchNormalization", i,
                             (long long)sb_shape_count(in_shape(g, n, i)),
                             (long long)out->dim[1]);
    return SB_OK;
}

static sb_status infer_node(sb_graph *g, sb_node *n, sb_shape *out, sb_error *err)
{
    static const struct { signed char lo, hi; } arity[SB_OP_COUNT] = {
        [SB_OP_CONV] = {2, 3},    [SB_OP_GEMM] = {2, 3},     [SB_OP_MATMUL] = {2, 2},
        [SB_OP_ADD] = {2, 2},     [SB_OP_MUL] = {2, 2},      [SB_OP_RELU] = {1, 1},
        [SB_OP_CLIP] = {1, 3},    [SB_OP_SIGMOID] = {1, 1},  [SB_OP_HARDSIGMOID] = {1, 1},
        [SB_OP_HARDSWISH] = {1, 1}, [SB_OP_SOFTMAX] = {1, 1}, [SB_OP_MAXPOOL] = {1, 1},
        [SB_OP_AVGPOOL] = {1, 1}, [SB_OP_GLOBALAVGPOOL] = {1, 1}, [SB_OP_BATCHNORM] = {5, 5},
        [SB_OP_FLATTEN] = {1, 1}, [SB_OP_RESHAPE] = {2, 2},  [SB_OP_CONCAT] = {1, 64},
        [SB_OP_IDENTITY] = {1, 1}, [SB_OP_DROPOUT] = {1, 3}, [SB_OP_CONSTANT] = {0, 0},
        [SB_OP_FAKEQUANT] = {1, 1},
    };
    sb_status s = need_inputs(g, n, arity[n->op].lo, arity[n->op].hi, err);
    if (s)
        return s;
    switch (n->op) {
    case SB_OP_CONV:
    case SB_OP_MAXPOOL:
    case SB_OP_AVGPOOL:
        return infer_window(g, n, out, err);
    case SB_OP_GEMM:
        return infer_gemm(g, n, out, err);
    case SB_OP_MATMUL:
        return infer_matmul(g, n, out, err);
    case SB_OP_ADD:
    case SB_OP_MUL: {
        sb_shape b = sb_binary_b_shape(n, in_shape(g, n, 0), in_shape(g, n, 1));
        return broadcast(n, in_shape(g, n, 0), &b, out, err);
    }
    case SB_OP_GLOBALAVGPOOL:
        *out = *in_shape(g, n, 0);
        if (out->rank < 3)
            return SHAPE_ERR(g, n, "input must have spatial axes", n->name, "GlobalAveragePool");
        for (int i = 2; i < out->rank; i++)
            out->dim[i] = 1;
        return SB_OK;
    case SB_OP_BATCHNORM:
        return infer_bn(g, n, out, err);
    case SB_OP_FLATTEN:
        return infer_flatten(g, n, out, err);
    case SB_OP_RESHAPE:
        return infer_reshape(g, n, out, err);
    case SB_OP_CONCAT:
        return infer_concat(g, n, out, err);
    case SB_OP_SOFTMAX: {
        *out = *in_shape(g, n, 0);
        int axis = norm_axis(n->a.axis, out->rank);
        if (axis < 0 || axis >= out->rank)
            return SHAPE_ERR(g, n, "axis %d is out of range for rank %d", n->name, "Softmax",
                             n->a.axis, out->rank);
        return SB_OK;
    }
    default:
        *out = *in_shape(g, n, 0);
        return SB_OK;
    }
}

sb_status sb_graph_infer_shapes(sb_graph *g, const sb_shape *inputs, sb_error *err)
{
    for (int i = 0; i < g->n_inputs; i++)
        g->values[g->inputs[i]].shape = inputs[i];
    for (int i = 0; i < g->n_nodes; i++) {
        sb_node *n = &g->nodes[i];
        sb_shape out = {0};
        sb_status s = infer_node(g, n, &out, err);
        if (s)
            return s;
        for (int d = 0; d < out.rank; d++)
            if (out.dim[d] <= 0) /* empty tensors: no use in these models, and divide by zero */
                return sb_error_set(err, out.dim[d] ? SB_ERR_SHAPE : SB_ERR_UNSUPPORTED,
                                    "node '%s' (%s): output dimension %d is %lld; %s", n->name,
                                    sb_op_name(n->op), d, (long long)out.dim[d],
                                    out.dim[d] ? "the model is malformed"
                                               : "empty tensors are not supported");
        if (!sb_shape_within_limits(&out)) {
            char buf[160];
            return sb_error_set(err, SB_ERR_SHAPE,
                                "node '%s' (%s): output shape %s is too large (limits: %lld "
                                "per dimension, %lld elements)",
                                n->name, sb_op_name(n->op), sb_shape_str(&out, buf, sizeof buf),
                                (long long)SB_MAX_DIM, (long long)SB_MAX_ELEMS);
        }
        if (n->out[0] < 0)
            return sb_error_set(err, SB_ERR_FORMAT, "node '%s' (%s): has no output", n->name,
                                sb_op_name(n->op));
        g->values[n->out[0]].shape = out;
        for (int k = 1; k < n->n_out; k++)
            if (n->out[k] >= 0) { /* Dropout's mask is the only extra output we accept */
                if (n->op != SB_OP_DROPOUT || g->values[n->out[k]].consumers > 0)
                    return sb_error_set(err, SB_ERR_UNSUPPORTED,
                                        "node '%s' (%s): extra outputs are not supported",
                                        n->name, sb_op_name(n->op));
            }
    }
    return SB_OK;
}
