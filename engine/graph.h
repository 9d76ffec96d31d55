/* Internal: the graph a model is loaded into. Immutable once built (compression makes a copy). */
#ifndef SB_GRAPH_H
#define SB_GRAPH_H

#include "kernels/kernels.h"
#include "slimbench.h"

#define SB_OP_LIST(X)                                                                              \
    X(CONV, "Conv")                                                                                \
    X(GEMM, "Gemm")                                                                                \
    X(MATMUL, "MatMul")                                                                            \
    X(ADD, "Add")                                                                                  \
    X(MUL, "Mul")                                                                                  \
    X(RELU, "Relu")                                                                                \
    X(CLIP, "Clip")                                                                                \
    X(SIGMOID, "Sigmoid")                                                                          \
    X(HARDSIGMOID, "HardSigmoid")                                                                  \
    X(HARDSWISH, "HardSwish")                                                                      \
    X(SOFTMAX, "Softmax")                                                                          \
    X(MAXPOOL, "MaxPool")                                                                          \
    X(AVGPOOL, "AveragePool")                                                                      \
    X(GLOBALAVGPOOL, "GlobalAveragePool")                                                          \
    X(BATCHNORM, "BatchNormalization")                                                             \
    X(FLATTEN, "Flatten")                                                                          \
    X(RESHAPE, "Reshape")                                                                          \
    X(CONCAT, "Concat")                                                                            \
    X(IDENTITY, "Identity")                                                                        \
    X(DROPOUT, "Dropout")                                                                          \
    X(CONSTANT, "Constant")                                                                        \
    X(FAKEQUANT, "slimbench.FakeQuant") /* internal: QuantizeLinear+DequantizeLinear */

typedef enum {
#define SB_X(name, text) SB_OP_##name,
    SB_OP_LIST(SB_X)
#undef SB_X
        SB_OP_COUNT
} sb_op;

const char *sb_op_name(sb_op op);
/* Comma-separated list of supported ONNX op types, for error messages. */
const char *sb_supported_ops(void);

typedef enum { SB_VAL_ACT = 0, SB_VAL_INPUT, SB_VAL_CONST } sb_value_kind;

typedef struct sb_value {
    char *name;
    sb_value_kind kind;
    sb_dtype dtype;
    sb_shape shape; /* consts: exact; others: as inferred for the current batch */
    void *data;     /* consts only: owned */
    int producer;   /* node index, -1 for inputs and consts */
    int consumers;  /* number of node inputs reading it (+1 if a graph output) */
} sb_value;

/* Convolution and pooling windows (1-D or 2-D). */
typedef enum { SB_PAD_NOTSET = 0, SB_PAD_SAME_UPPER, SB_PAD_SAME_LOWER, SB_PAD_VALID } sb_autopad;

typedef struct sb_window {
    int spatial;         /* 1 or 2 */
    int kernel[2];       /* from the attribute or, for Conv, the weight shape */
    int stride[2];
    int dilation[2];
    int pad_begin[2], pad_end[2];
    sb_autopad auto_pad;
    int group;           /* Conv */
    int ceil_mode;       /* pools */
    int count_include_pad;
} sb_window;

#define SB_NUMPY_BROADCAST (-1000) /* Add/Mul axis: numpy rules (opset >= 7) */

typedef struct sb_node {
    char *name;
    sb_op op;
    int n_in, n_out;
    int *in;  /* value indices; -1 for an omitted optional input */
    int *out;
    union {
        sb_window win;                                        /* CONV, MAXPOOL, AVGPOOL */
        struct { float alpha, beta; int trans_a, trans_b; } gemm; /* GEMM */
        struct { float min, max; } clip;                      /* CLIP (opset < 11 attrs) */
        struct { float alpha, beta; } hsig;                   /* HARDSIGMOID */
        struct { float epsilon; } bn;                         /* BATCHNORM */
        int axis; /* SOFTMAX, FLATTEN, CONCAT; ADD/MUL: legacy broadcast axis */
        int allowzero;                                        /* RESHAPE */
        struct { float scale; int zero_point, qmin, qmax; } fq; /* FAKEQUANT; scale 0: off */
    } a;
} sb_node;

typedef struct sb_meta {
    char *key, *value;
} sb_meta;

typedef struct sb_graph {
    sb_value *values;
    int n_values, cap_values;
    sb_node *nodes; /* topologically sorted */
    int n_nodes;
    int *inputs, n_inputs;   /* runtime inputs (initializers excluded) */
    int *outputs, n_outputs;
    sb_meta *meta;
    int n_meta;
    int64_t opset;
    sb_shape declared_input; /* first input as declared in the file (dim -1 if symbolic) */
    sb_shape *input_decl;    /* every input as declared */
} sb_graph;

/* onnx.c */
sb_status sb_graph_from_onnx(const void *buf, size_t len, const char *name, sb_graph **out,
                             sb_error *err);
/* The same, freeing buf (malloc'd) once it is decoded, so the file and the weights are not held
 * together: loading peaks at about twice the file size. */
sb_status sb_graph_from_onnx_owned(void *buf, size_t len, const char *name, sb_graph **out,
                                   sb_error *err);
void sb_graph_free(sb_graph *g);
int sb_graph_find_value(const sb_graph *g, const char *name);
int sb_graph_find_node(const sb_graph *g, const char *name);

/* graph.c: Identity/Dropout of constants become constants; every Conv/Gemm/MatMul gets a weight
 * of its own (PyTorch's exporter shares equal initializers between layers). */
sb_status sb_graph_fold_identities(sb_graph *g, sb_error *err);
/* Deep copy (compression works on a copy; the base model is never changed). */
sb_graph *sb_graph_clone(const sb_graph *g);
int sb_graph_add_value(sb_graph *g, const char *name, sb_value_kind kind);
/* Inserts a one-input node of type op in front of node `before`, feeding its input `slot`;
 * returns the new node's index (the node `before` moves up by one), or -1. */
int sb_graph_insert_before(sb_graph *g, int before, int slot, sb_op op, const char *name);

/* The kernel geometry of a Conv with input shape x, output shape y and window w (1-D windows
 * run as 2-D with a unit height). */
sb_conv_geom sb_conv_geometry(const sb_shape *x, const sb_shape *y, const sb_window *w);
/* y[p] = mean of x[p*size .. p*size+size), for each of `planes` planes (GlobalAveragePool). */
void sb_global_avgpool(const float *x, int64_t planes, int64_t size, float *y);

/* Limits on every shape read from a file or inferred: each dimension at most SB_MAX_DIM and
 * the product of the non-zero ones at most SB_MAX_ELEMS, so that no product of a shape's
 * dimensions (or of one with a batch or group count) can overflow an int64_t. */
#define SB_MAX_DIM ((int64_t)INT32_MAX)   /* kernels take dimensions as int */
#define SB_MAX_ELEMS ((int64_t)INT32_MAX) /* far above what a plan's budget lets run */
#define SB_MAX_KERNEL (1 << 20) /* window sizes, strides, dilations and pads */
/* True when s keeps those limits; symbolic (-1) dimensions count as 1. */
bool sb_shape_within_limits(const sb_shape *s);

/* shape.c: infers every value's shape from the given input shapes (n_inputs of them). */
sb_status sb_graph_infer_shapes(sb_graph *g, const sb_shape *inputs, sb_error *err);

/* Shape of Add/Mul's second input as numpy broadcasting should see it: before opset 7 an
 * explicit axis aligns it with the first input there rather than at the end. */
static inline sb_shape sb_binary_b_shape(const sb_node *n, const sb_shape *a, const sb_shape *b)
{
    sb_shape s = *b;
    if (n->a.axis == SB_NUMPY_BROADCAST)
        return s;
    int axis = n->a.axis < 0 ? n->a.axis + a->rank : n->a.axis;
    while (s.rank < SB_MAX_RANK && axis + s.rank < a->rank)
        s.dim[s.rank++] = 1;
    return s;
}

/* Constant float data of value v, or NULL if v is not a float constant. */
static inline const float *sb_value_f32(const sb_graph *g, int v)
{
    if (v < 0 || g->values[v].kind != SB_VAL_CONST || g->values[v].dtype != SB_F32)
        return NULL;
    return (const float *)g->values[v].data;
}

/* Checked arithmetic for sizes taken from files. */
static inline int sb_mul_overflows(int64_t a, int64_t b, int64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}

#endif
