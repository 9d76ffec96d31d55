/* slimbench engine: training — fine-tuning a compressed model to win its accuracy back.
 *
 * Backward passes for every operator the engine runs, cross-entropy and knowledge-distillation
 * losses, SGD with momentum and weight decay (PyTorch's semantics), pruning masks held fixed,
 * quantisation-aware training with a straight-through estimator, and gradual pruning (AGP).
 * Like compression, fine-tuning reads its inputs and returns a new model: the student and the
 * teacher are never changed, so undo stays a matter of keeping the previous model.
 *
 * Results are deterministic for a given seed: every gradient is reduced in a fixed order (per
 * image, then over the images in batch order), so the trained weights are the same bits whatever
 * the thread count. */
#ifndef SLIMBENCH_TRAIN_H
#define SLIMBENCH_TRAIN_H

#include "compress.h"

typedef enum {
    SB_BN_FROZEN = 0, /* running statistics are constants; scale and shift are trained */
    SB_BN_TRAIN,      /* batch statistics, running statistics updated (momentum 0.1) */
} sb_bn_mode;

typedef enum { SB_LR_CONSTANT = 0, SB_LR_COSINE } sb_lr_schedule;

typedef struct sb_train_progress {
    int step, steps;   /* optimizer steps done, planned */
    int epoch;         /* epoch of the last step (0-based) */
    double loss;       /* mean loss over the steps since the previous report */
    double accuracy;   /* running top-1 (%) over the images trained this epoch */
    double sparsity;   /* fraction of pruned weights in the pruned layers (gradual pruning) */
    double seconds;    /* since training started */
} sb_train_progress;

/* Called after each optimizer step from the training thread; returns true to cancel. */
typedef bool (*sb_train_progress_fn)(const sb_train_progress *p, void *user);

typedef struct sb_train_options {
    double epochs;       /* passes over the training images (fractions allowed), when steps is 0 */
    int steps;           /* optimizer steps; overrides epochs when > 0 */
    int batch;           /* images per step */
    int limit;           /* train on the first `limit` images only (0: all) */
    float lr;            /* learning rate */
    float momentum;      /* SGD momentum (0: plain SGD) */
    float weight_decay;  /* L2 penalty added to the gradient of every trained parameter */
    sb_lr_schedule lr_schedule;
    float clip_norm;     /* > 0: scale the gradient down to this global L2 norm (PyTorch's
                            clip_grad_norm_) before weight decay and momentum */
    bool distill;        /* knowledge distillation from the teacher (which must be given) */
    float temperature;   /* T */
    float alpha;         /* loss = alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1-alpha) CE */
    sb_bn_mode bn;
    bool shuffle;        /* a new permutation of the images every epoch */
    uint64_t seed;       /* for the permutations */
    bool keep_zeros;     /* hold every exact-zero Conv/Gemm/MatMul weight at zero, pruned by the
                            configuration or not (a model loaded from a pruned ONNX file) */
    /* gradual pruning (sb_finetune_agp) */
    int agp_steps;       /* n: pruning steps */
    double agp_initial;  /* s_i: sparsity of the first step as a fraction of the target */
    double agp_span;     /* fraction of the training steps over which the pruning steps fall */
    /* progress and cancellation, checked between steps */
    sb_train_progress_fn progress;
    void *user;
    const volatile int *cancel;
} sb_train_options;

/* lr 0.01, momentum 0.9, weight decay 5e-4, batch 64, one epoch, shuffled with seed 1, T 4,
 * alpha 0.7 (distillation off), BatchNorm in training mode (it re-estimates the statistics a
 * pruned network needs, and keeps distillation stable at this learning rate; see
 * docs/training.md), no clipping, AGP over 10 steps in the first half. */
sb_train_options sb_train_options_default(void);

#define SB_EPOCH_TIMES 64

typedef struct sb_train_result {
    int steps;              /* optimizer steps taken */
    int64_t images;         /* images trained on (steps x batch, the last batch possibly short) */
    double epochs;          /* images / training set size */
    double seconds;         /* wall time of the whole call */
    double teacher_seconds; /* of which computing teacher logits */
    double first_loss;      /* loss of the first step */
    double last_loss;       /* mean loss over the last epoch's (or run's last 100) steps */
    double train_accuracy;  /* top-1 (%) on the training images of the last epoch, as trained */
    int n_epoch_times;      /* epochs begun (the last may be partial), at most SB_EPOCH_TIMES */
    double epoch_seconds[SB_EPOCH_TIMES]; /* wall time of each (the first includes the
                                             teacher's forward passes; beyond the last slot,
                                             epochs add to it) */
} sb_train_result;

/* Fine-tunes `student` (typically sb_compress's output) on `train` and returns the trained model
 * in *out (a new model with the student's configuration). With o->distill the loss is the
 * distillation loss against `teacher` (typically the uncompressed base; required then, and its
 * output must have the student's shape). Weights that the student's configuration pruned
 * (magnitude or global: its exact zeros; L1 channels kept as zeros) stay zero; layers the
 * configuration quantises are trained with fake-quantised weights in the forward pass and a
 * straight-through estimator in the backward pass, and come back quantised. A thinned student
 * trains in its thinned shape. Cancelling returns SB_ERR_CANCELLED and no model. */
sb_status sb_finetune(const sb_model *teacher, const sb_model *student, const sb_dataset *train,
                      const sb_preprocess *pp, const sb_train_options *o, sb_model **out,
                      sb_train_result *res, sb_error *err);

/* Gradual pruning (Zhu & Gupta's automated gradual pruner): `base` is compressed with `cfg`
 * except that the magnitude/global pruning ratios start low and reach cfg's ratios on the cubic
 * schedule s_k = s_f + (s_i - s_f)(1 - k/n)^3, k = 1..n (n = o->agp_steps, s_i = o->agp_initial
 * x s_f), with the pruning steps spread evenly over the first o->agp_span of the training steps
 * and fine-tuning between them and after the last. Each pruning step re-applies magnitude pruning
 * (per layer or one global threshold, as cfg says) to the current weights; pruned weights then
 * stay zero. Structured (L1) pruning follows the same schedule: each step removes the least
 * important channels (by the current weights) of every group cfg prunes, up to s_k/s_f of its
 * ratio; they are held at zero (weights, biases, BatchNorm scale and shift) while training goes
 * on, and the returned model is thinned as sb_compress thins it. Quantisation in cfg applies
 * from the start. The teacher may be `base` itself. */
sb_status sb_finetune_agp(const sb_model *teacher, const sb_model *base, const sb_config *cfg,
                          const sb_dataset *train, const sb_preprocess *pp,
                          const sb_train_options *o, sb_model **out, sb_train_result *res,
                          sb_error *err);

/* s_k of the cubic schedule: s_f + (s_i - s_f)(1 - k/n)^3, k clamped to [0, n]. */
double sb_agp_sparsity(double s_i, double s_f, int k, int n);

#endif
