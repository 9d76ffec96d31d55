/* Internal: the activation cache's hooks into evaluation (eval.c). */
#ifndef SB_ACTCACHE_H
#define SB_ACTCACHE_H

#include "model.h"

/* Prepares c for evaluating m with plan p over d: finds the cut, binds c to d and pp (clearing
 * it when it was filled from other data) and moves the cut when the cached one cannot serve. */
sb_status sb_actcache_begin(sb_actcache *c, const sb_model *m, sb_plan *p, const sb_dataset *d,
                            const sb_preprocess *pp, sb_error *err);
/* Runs images [start, start+count) through p: from the cut when they are cached (counted in
 * *cached), else from the input, capturing them while room is left. */
sb_status sb_actcache_run_batch(sb_actcache *c, sb_plan *p, int start, int count,
                                const volatile int *cancel, int *cached, sb_error *err);
/* Ends the evaluation begun on p (p may be freed afterwards). */
void sb_actcache_end(sb_actcache *c);

#endif
