/* Internal: the model handle behind the public sb_model. */
#ifndef SB_MODEL_H
#define SB_MODEL_H

#include "compress.h"
#include "plan.h"

/* Channel dependency analysis (channels.c). Every channel of every activation tensor is an
 * element; elements that must be pruned together are unioned into one class (a "unit"); the
 * units that share tensors form a group. */
typedef struct sb_group {
    int n_units;
    int *unit_root;      /* class (union-find root element) of each unit, in display order */
    double *importance;  /* per unit: sum of producing layers' channel L1 norms */
    int *members;        /* layers whose weights change when the group is pruned */
    int n_members;
    bool prunable;
    char why_not[160];
} sb_group;

typedef struct sb_channels {
    int n_elems;
    int *elem_off;       /* per value: first element, -1 when the value has no channel axis */
    int *nchan;          /* per value: channels (features for rank-2 values) */
    int *root;           /* per element: its class (fully compressed union-find) */
    int *group_of_layer; /* per layer: the group of its output channels, -1 if none */
    sb_group *groups;
    int n_groups;
} sb_channels;

typedef struct sb_layer {
    int node;
    char *name;        /* display name (PyTorch module path when derivable) */
    char op[24];       /* "Conv", "Conv(dw)", "Conv(g=N)", "Gemm", "MatMul" */
    int weight, bias;  /* value indices (bias -1 when absent) */
    int bn_node;       /* BatchNormalization folded into it, or -1 */
    int out_axis;      /* axis of the weight that indexes output channels */
    sb_shape out_shape;
    int64_t params, macs, zeros, out_channels;
    double *l1;        /* per output channel */
    double l1_min, l1_median, l1_max;
} sb_layer;

struct sb_model {
    char *path;
    sb_graph *g;
    sb_plan *plan1;    /* batch 1: latency and per-image shapes */
    sb_plan *plan_n;   /* the last batched plan (evaluation) */
    sb_plan *plan_run; /* explicit shapes (sb_model_run) */
    sb_layer *layers;
    int n_layers;
    sb_channels *chan;  /* channel groups, computed with the layers */
    sb_config cfg;      /* the configuration a compressed model was made with (else empty) */
};

sb_status sb_model_from_graph(sb_graph *g, const char *name, sb_model **out, sb_error *err);
sb_status sb_model_plan(sb_model *m, int batch, sb_plan **out, sb_error *err);

/* channels.c */
sb_status sb_channels_build(sb_model *m, sb_error *err);
void sb_channels_free(sb_channels *c);
/* Removes (thin) or zeroes (mask) the units marked in `removed` (per group unit, per group)
 * from graph g, a clone of m's graph. */
sb_status sb_channels_prune(const sb_model *m, sb_graph *g, bool *const *removed, bool thin,
                            sb_error *err);
/* compress.c: per group, the units that L1 pruning at `scale` x c's ratios removes, ranked by
 * the importance of m's current weights (NULL for a group left whole); *any: some group is
 * pruned. Free with sb_channels_choice_free(removed, m->chan->n_groups). */
sb_status sb_channels_choose(const sb_model *m, const sb_config *c, double scale,
                             bool ***removed, bool *any, sb_error *err);
void sb_channels_choice_free(bool **removed, int n_groups);

/* calib.c: sets the FakeQuant nodes fq[0..n_fq) of g from observed activations. */
sb_status sb_calibrate(sb_graph *g, const int *fq, int n_fq, const sb_config *c,
                       const sb_calib_data *cd, sb_error *err);

/* logits.c: shared by evaluation and the training losses. */
int sb_argmax(const float *x, int n); /* the first maximum */
/* log sum_k exp(row[k] / T), computed stably in double. */
double sb_logsumexp(const float *row, int classes, double T);

/* layers.c */
sb_status sb_layers_build(sb_model *m, sb_error *err);
void sb_layers_free(sb_model *m);

#endif
