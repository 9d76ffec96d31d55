/* Batch-1 time per layer: the per-step profile (profile.c) read by layer, a Conv/Gemm step
 * including the BatchNorm, activation and elementwise ops fused into it. */
#include "model.h"

#include <string.h>

sb_status sb_latency_layers(sb_model *m, double seconds, const volatile int *cancel,
                            sb_layer_time *layers, sb_layer_time *total, sb_error *err)
{
    sb_profile prof;
    sb_status s = sb_profile_steps(m, 1, seconds, cancel, &prof, err);
    if (s)
        return s;
    for (int l = 0; l < m->n_layers; l++) {
        layers[l] = (sb_layer_time){0, 0};
        for (int k = 0; k < prof.n_steps; k++)
            if (prof.steps[k].node == m->layers[l].node)
                layers[l] = (sb_layer_time){prof.steps[k].median_ms, prof.steps[k].min_ms};
    }
    *total = (sb_layer_time){prof.run_median_ms, prof.run_min_ms};
    sb_profile_free(&prof);
    return SB_OK;
}
