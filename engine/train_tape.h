/* Internal: the training tape. A private copy of a model's graph with every value's activation
 * kept for the batch, a gradient per value that leads to a trained parameter, and the trained
 * parameters (Conv/Gemm/MatMul weights and biases, BatchNorm scale and shift) with their
 * gradients, momentum buffers, masks and, for quantisation-aware training, float shadow weights.
 *
 * forward runs the nodes in topological order; backward sweeps them in reverse, each op adding
 * its inputs' gradients (so values read by several nodes sum their contributions). Every
 * reduction runs in a fixed order (per image, then over images in batch order), never split
 * by thread, so gradients are bit-identical for any thread count. */
#ifndef SB_TRAIN_TAPE_H
#define SB_TRAIN_TAPE_H

#include "model.h"
#include "train.h"

typedef struct sb_tparam {
    int value;            /* the graph constant trained */
    int node, slot;       /* first node reading it, and the input slot */
    int layer;            /* compressible layer whose weight it is, or -1 */
    int64_t n;            /* elements */
    float *w;             /* = the graph constant's data: what the forward pass reads */
    float *shadow;        /* QAT: float weights the optimizer updates (NULL: w itself) */
    float *grad;          /* dL/dw for the current batch */
    float *mom;           /* momentum buffer */
    bool mom_ready;       /* false until the first step (PyTorch: buf = d_p then) */
    uint8_t *mask;        /* 1: trained, 0: held at zero; NULL: all trained */
    sb_layer_config q;    /* q.wbits < 32: w = fake-quantise(shadow) after every step */
    int64_t rows, cols;   /* the weight as a matrix for sb_quant_weights */
    int out_axis;
} sb_tparam;

typedef struct sb_tape_options {
    sb_bn_mode bn;
    bool input_grad;      /* also compute dL/d(graph inputs) (gradient checks) */
    bool all_consts;      /* train every float constant read by a Conv, Gemm, MatMul, BN, Add or
                             Mul (gradient checks); otherwise only weights, biases, BN scale/shift */
} sb_tape_options;

typedef struct sb_tape {
    sb_graph *g;          /* owned; value indices are the source graph's */
    int cap;              /* batch the buffers are sized for */
    int batch;            /* batch of the current forward/backward */
    sb_tape_options opt;
    float **act;          /* per value: activations (constants: the graph's data) */
    float **grad;         /* per value: dL/dvalue, or NULL */
    bool *own;            /* per value: act/grad allocated here (not aliases) */
    bool *need_grad;
    int *param_of;        /* per value: index into params, or -1 */
    bool *skip;           /* per node: not run (a trailing Softmax when training on logits) */
    int *root;            /* per value: the value owning its buffers (itself unless aliased) */
    bool *zeroed;         /* per owner: gradient zeroed in the current backward sweep */
    sb_tparam *params;
    int n_params;
    int logits;           /* the value the loss reads */
    float **saved;        /* per node: BN: mean and 1/std per channel; MaxPool: argmax (int32) */
    float *work;          /* forward/backward workspace, sized at creation */
    size_t work_floats;
    int threads;          /* the thread count the workspace is sized for */
} sb_tape;

/* Builds a tape over a copy of g for batches of up to `cap` images. */
sb_status sb_tape_new(const sb_graph *g, int cap, const sb_tape_options *opt, sb_tape **out,
                      sb_error *err);
void sb_tape_free(sb_tape *t);
/* Re-plans shapes for a batch of n <= cap images. */
sb_status sb_tape_set_batch(sb_tape *t, int n, sb_error *err);
/* Storage of graph input i for the current batch (NCHW float32). */
float *sb_tape_input(sb_tape *t, int i);
int64_t sb_tape_count(const sb_tape *t, int v); /* elements of value v at the current batch */
/* Runs the forward pass (fails only when a larger thread count needs more workspace). */
sb_status sb_tape_forward(sb_tape *t, sb_error *err);
/* Zeroes the parameters' gradients and grad[logits] (other gradients are zeroed during the
 * sweep); the loss then writes grad[logits] and backward propagates it. */
void sb_tape_zero_grad(sb_tape *t);
void sb_tape_backward(sb_tape *t);
int sb_tape_find_param(const sb_tape *t, int value);

/* train_ops.c / train_conv.c: one node's forward and backward (adding into inputs' grads). */
void sb_train_op_forward(sb_tape *t, int node);
void sb_train_op_backward(sb_tape *t, int node);
void sb_train_conv_forward(sb_tape *t, int node);
void sb_train_conv_backward(sb_tape *t, int node);
/* Workspace (floats) the ops of node need at batch `cap` with `threads` threads. */
size_t sb_train_op_work(const sb_tape *t, int node, int threads);
size_t sb_train_conv_work(const sb_tape *t, int node, int threads);
sb_conv_geom sb_train_conv_geom(const sb_tape *t, const sb_node *n);

/* train_loss.c: mean losses over n rows of `classes` logits; d (may be NULL) gets dL/dlogits.
 * Labels outside [0, classes) count as unlabelled: no cross-entropy term. Also counts top-1
 * hits in *correct (may be NULL). Computed in double. */
double sb_loss_ce(const float *logits, const int *labels, int n, int classes, float *d,
                  int *correct);
double sb_loss_kd(const float *s, const float *t, const int *labels, int n, int classes,
                  double T, double alpha, float *d, int *correct);

/* train_optim.c */
/* One SGD step over every parameter (PyTorch: d_p = g + wd p; buf = momentum buf + d_p, the
 * first step buf = d_p; p -= lr buf), masked entries untouched, then QAT re-quantisation. */
void sb_sgd_step(sb_tape *t, float lr, float momentum, float wd);
/* Scales every parameter gradient by max_norm / ||g|| when the global L2 norm ||g|| (over the
 * trained, unmasked entries) exceeds max_norm; returns ||g|| before clipping. */
double sb_clip_grad_norm(sb_tape *t, double max_norm);
/* Sets up masks and QAT for the layers of model m (whose graph the tape copies) under cfg. */
sb_status sb_tape_bind_layers(sb_tape *t, const sb_model *m, const sb_config *cfg,
                              bool keep_zeros, sb_error *err);
/* Writes w = fake-quantise(shadow) for the quantised parameters. */
void sb_tape_requantize(sb_tape *t);

/* train_prune.c: gradual pruning on the tape. Both hold what they prune at zero from then on
 * (masked, momentum cleared, QAT shadow zeroed). */
/* Magnitude pruning of the current (shadow) weights at f x c's magnitude and global ratios: per
 * layer, or one threshold over the global layers. */
sb_status sb_tape_prune_magnitude(sb_tape *t, const sb_config *c, double f, sb_error *err);
/* Structured pruning at f x c's L1 ratios, channels ranked by the current weights: the chosen
 * channels' weights, biases and BatchNorm scale and shift are zeroed (shapes stay); *removed
 * gets the choice per group, for thinning later (sb_channels_prune; free with
 * sb_channels_choice_free(*removed, *n_groups)). */
sb_status sb_tape_prune_channels(sb_tape *t, const sb_config *c, double f, bool ***removed,
                                 int *n_groups, sb_error *err);

#endif
