/* slimbench engine: compression. A Config is a plain value (per-layer settings plus global
 * ones); compressing a base model with it yields a new model and never changes the base, so undo
 * is just an earlier Config. */
#ifndef SLIMBENCH_COMPRESS_H
#define SLIMBENCH_COMPRESS_H

#include "slimbench.h"

typedef enum {
    SB_PRUNE_NONE = 0,
    SB_PRUNE_MAGNITUDE, /* unstructured: the smallest |w| of this layer become zero */
    SB_PRUNE_L1,        /* structured: the least important channels of the layer's group go */
    SB_PRUNE_GLOBAL,    /* unstructured, one magnitude threshold over every GLOBAL layer */
} sb_prune_method;

typedef enum { SB_GRAN_CHANNEL = 0, SB_GRAN_TENSOR } sb_granularity;

typedef struct sb_layer_config {
    sb_prune_method prune;
    double ratio;          /* fraction pruned, in [0, 1) */
    int wbits;             /* weight bits: 32 (float, no quantisation), 8, 6, 4, 2 */
    sb_granularity gran;   /* one scale per output channel, or one per tensor */
    bool asymmetric;       /* zero point; symmetric (the default) has none */
    bool act8;             /* quantise the layer's input activations to 8 bits (calibrated) */
} sb_layer_config;

typedef enum { SB_CALIB_MINMAX = 0, SB_CALIB_PERCENTILE } sb_calib_method;

typedef struct sb_config {
    int n_layers;            /* equals sb_model_num_layers of the model it was made for */
    sb_layer_config *layer;  /* one per layer, in model order */
    double global_ratio;     /* the ratio shared by SB_PRUNE_GLOBAL layers */
    sb_calib_method calib;
    double percentile;       /* SB_CALIB_PERCENTILE: e.g. 99.99 */
    int calib_images;        /* taken from the start of the training split */
} sb_config;

extern const sb_layer_config SB_LAYER_DEFAULT; /* no pruning, float weights */

sb_status sb_config_new(const sb_model *m, sb_config *c, sb_error *err);
sb_status sb_config_copy(const sb_config *src, sb_config *dst, sb_error *err);
void sb_config_free(sb_config *c);
bool sb_config_equal(const sb_config *a, const sb_config *b);
bool sb_layer_config_is_default(const sb_layer_config *l);
/* Checks every layer's setting against the model; the message names the layer. */
sb_status sb_config_validate(const sb_model *m, const sb_config *c, sb_error *err);

/* Parses a one-off setting as the CLI's --prune and --quant flags take them:
 * "LAYER=RATIO[:magnitude|l1]" (LAYER may be `all` or `global`) and
 * "LAYER=BITS[:channel|tensor][:sym|asym][:a8]" (LAYER may be `all`). */
sb_status sb_config_apply_prune_flag(const sb_model *m, sb_config *c, const char *flag,
                                     sb_error *err);
sb_status sb_config_apply_quant_flag(const sb_model *m, sb_config *c, const char *flag,
                                     sb_error *err);

/* CSV (config_csv.c, via libcsv): one row per configured layer, documented in docs/csv.md. */
sb_status sb_config_load_csv(const sb_model *m, const char *path, sb_config *c, sb_error *err);
sb_status sb_config_save_csv(const sb_model *m, const sb_config *c, const char *path,
                             sb_error *err);

/* Writes `path` atomically: a temporary file beside it, fsync, rename, fsync the directory.
 * On failure the old file (if any) is untouched and no temporary is left. */
sb_status sb_write_file_atomic(const char *path, const void *data, size_t len, sb_error *err);

/* ---- compression ---- */

/* Optional calibration data for activation quantisation (needed when any layer has act8). */
typedef struct sb_calib_data {
    const sb_dataset *data; /* training split */
    const sb_preprocess *pp;
} sb_calib_data;

/* Builds the compressed model: pruning masks applied, channel groups removed for real
 * (`thin`; otherwise their weights are only zeroed), weights fake-quantised, activation
 * quantisation calibrated. The base is not modified. */
sb_status sb_compress(const sb_model *base, const sb_config *c, const sb_calib_data *calib,
                      bool thin, sb_model **out, sb_error *err);
sb_status sb_model_export_onnx(const sb_model *m, const char *path, sb_error *err);

/* ---- structured pruning groups ---- */
typedef struct sb_group_info {
    int channels;          /* prunable channel units in the group */
    int n_members;         /* layers whose weights change when the group is pruned */
    const int *members;    /* layer indices */
    bool prunable;
    const char *why_not;   /* reason when not prunable */
} sb_group_info;

/* The channel group that layer i's output channels belong to (-1: none, e.g. a Gemm's output
 * that is the model output). */
int sb_model_layer_group(const sb_model *m, int layer);
int sb_model_num_groups(const sb_model *m);
sb_status sb_model_group(const sb_model *m, int group, sb_group_info *info);
/* Importance of each channel unit of a group (length channels): the sum of the per-output-
 * channel L1 norms of the layers producing it. */
const double *sb_model_group_importance(const sb_model *m, int group);

/* ---- metrics ---- */
typedef struct sb_size_info {
    int64_t params;          /* after thinning */
    int64_t nonzero;         /* parameters not exactly zero */
    int64_t macs;            /* dense MACs per image after thinning */
    int64_t effective_macs;  /* MACs excluding multiplications by zero weights (an estimate
                                of work a sparse kernel could skip: label it as such) */
    int64_t bytes;           /* storage with the real encoding (bits, sparse where it pays) */
} sb_size_info;

sb_size_info sb_model_size(const sb_model *m);
sb_size_info sb_model_layer_size(const sb_model *m, int layer);

/* ---- sensitivity ---- */
typedef struct sb_sweep_point {
    int layer;        /* layer pruned alone (for l1: a producer of the group pruned) */
    double ratio;
    int images, correct1, correct5;
    double loss;
} sb_sweep_point;

typedef struct sb_sweep_options {
    sb_prune_method method;  /* SB_PRUNE_MAGNITUDE or SB_PRUNE_L1 */
    const double *ratios;
    int n_ratios;
    const int *layers;       /* layers to sweep; NULL: all (for l1: one per prunable group) */
    int n_layers;
    int limit;               /* images per evaluation, 0: all */
    bool (*progress)(int done, int total, void *user); /* true cancels */
    void *user;
    const volatile int *cancel;
} sb_sweep_options;

/* Prunes each layer alone at each ratio and evaluates; points[] gets one entry per (layer,
 * ratio) in order (allocate with sb_sweep_count points). */
int sb_sweep_count(const sb_model *m, const sb_sweep_options *o);
sb_status sb_sweep(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                   const sb_sweep_options *o, sb_sweep_point *points, sb_error *err);

/* ---- report ---- */
typedef struct sb_measurement {
    const sb_model *model;
    const sb_eval_result *eval;  /* may be NULL when not evaluated */
    const sb_latency *latency;   /* may be NULL when not measured */
} sb_measurement;

/* Per-layer metrics of the compressed model beside the base, and a summary row (accuracy,
 * agreement, latency, size); documented in docs/csv.md. */
sb_status sb_report_save_csv(const sb_measurement *base, const sb_measurement *comp,
                             const char *path, sb_error *err);

#endif
