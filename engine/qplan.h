/* Internal: int8 execution of quantised layers (qplan.c), hooked into plan.c and ops.c.
 *
 * A Conv or Gemm whose weights are exactly integers times a per-channel scale (<= 8 bits) and
 * whose input passes a calibrated activation FakeQuant runs the integer kernel: the FakeQuant
 * step quantises its input to u8 (or, when the producer is itself an int8 layer with no other
 * reader, disappears: that layer requantises in its epilogue), and the layer reads u8. */
#ifndef SB_QPLAN_H
#define SB_QPLAN_H

#include "kernels/qkernels.h"
#include "plan.h"

typedef enum {
    SB_QSTEP_LABEL = 0, /* runs as f32; the step only carries its kernel name */
    SB_QSTEP_LAYER,     /* Conv/Gemm on the integer kernel */
    SB_QSTEP_QUANTIZE,  /* FakeQuant writing u8 for an int8 layer */
} sb_qstep_kind;

typedef struct sb_qstep {
    sb_qstep_kind kind;
    const char *kernel; /* "int8-vnni", "int8-avx2", "int8-ref", "f32", "f32-dq" */
    sb_qconv qc;        /* LAYER */
    float scale;        /* QUANTIZE */
    int zp, qmin, qmax;
} sb_qstep;

/* Chooses int8 execution for the plan's steps; runs after the steps are made, before buffers
 * are assigned (a FakeQuant fused into its producer becomes an alias). SB_INT8=0 keeps every
 * layer on the f32 kernels (the fake-quantised reference). */
sb_status sb_qplan_apply(sb_plan *p, sb_error *err);
/* Floats of scratch the int8 steps need. */
size_t sb_qplan_scratch_floats(const sb_plan *p);
void sb_qstep_free(sb_qstep *q);
/* Runs st if it is an int8 step; false when it runs as f32. */
bool sb_qop_run(const sb_plan *p, const sb_step *st);

#endif
