/* Internal: runs dataset images through a model in micro-batches, one plan per thread. */
#ifndef SB_MICROBATCH_H
#define SB_MICROBATCH_H

#include "model.h"

typedef struct sb_mbrunner {
    sb_model *m;
    sb_plan **plans; /* one per thread, each for `mb` images */
    int n_plans, mb, classes;
    size_t per_image; /* input floats per image */
} sb_mbrunner;

/* A runner for batches of up to `batch` images (all allocation happens here). */
sb_status sb_mbrunner_new(sb_model *m, int batch, sb_mbrunner **out, sb_error *err);
/* Logits (count x classes) of images [start, start + count) of d; count <= the batch. With a
 * cache (begun on one of r's plans), each micro-batch resumes or captures its own images there;
 * *resumed counts the images resumed. */
sb_status sb_mbrunner_run(sb_mbrunner *r, const sb_dataset *d, const sb_preprocess *pp,
                          sb_actcache *cache, int start, int count, float *logits,
                          int *resumed, const volatile int *cancel, sb_error *err);
void sb_mbrunner_free(sb_mbrunner *r);

#endif
