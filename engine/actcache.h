/* Internal: the activation cache's hooks into evaluation (eval.c, microbatch.c). */
#ifndef SB_ACTCACHE_H
#define SB_ACTCACHE_H

#include "model.h"

/* Prepares c for evaluating m over d with plans shaped like p (any of the evaluation's plans:
 * they share the steps): binds c to d and pp (clearing it when it was filled from other data),
 * finds the cuts that serve m and adds one at m's first change when none is there. */
sb_status sb_actcache_begin(sb_actcache *c, const sb_model *m, const sb_plan *p,
                            const sb_dataset *d, const sb_preprocess *pp, sb_error *err);
/* Runs images [start, start+count) (count <= p->batch) through p: from the latest cut holding
 * all of them (counted in *resumed), else from the input; captures them at the later cuts while
 * those have room. Several threads may call it at once, each with its own plan and images. */
sb_status sb_actcache_run(sb_actcache *c, sb_plan *p, int start, int count,
                          const volatile int *cancel, int *resumed, sb_error *err);
/* After every image of [start, start+count) ran without error: the images captured become
 * cached. Batches come in order from image 0. */
void sb_actcache_batch_done(sb_actcache *c, int start, int count);
/* Ends the evaluation begun (its plans may be freed afterwards). */
void sb_actcache_end(sb_actcache *c);

#endif
