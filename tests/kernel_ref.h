/* Shared by the f32 kernel tests (test_kernels.c, test_sparse.c): choosing the ISA of a test
 * process, activations in double written from the ONNX/PyTorch definitions (not from act.c), and
 * the comparisons. Each test file keeps its own random generator (its own seed and sequence). */
#ifndef SB_KERNEL_REF_H
#define SB_KERNEL_REF_H

#include "kernels/kernels.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline int cpu_has(const char *isa)
{
    if (strcmp(isa, "generic") == 0)
        return 1;
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f");
#endif
    return 0;
}

/* Selects the kernels' ISA for this test process (the choice is made once, at the first call). */
static inline void use_isa(const char *isa)
{
    setenv("SB_ISA", isa, 1);
    if (!cpu_has(isa))
        cr_skip_test("this CPU has no %s", isa);
    if (strcmp(sb_kernels_isa(), isa) != 0)
        cr_skip_test("ISA already chosen in this process (tests not run in separate processes?)");
}

static inline double ref_act(const sb_act *a, double x)
{
    switch (a->kind) {
    case SB_ACT_RELU:
        return x > 0 ? x : 0;
    case SB_ACT_CLIP:
        return fmin(fmax(x, a->a), a->b);
    case SB_ACT_HARDSIGMOID:
        return fmax(0, fmin(1, a->a * x + a->b));
    case SB_ACT_HARDSWISH:
        return x * fmin(fmax(x + 3, 0), 6) / 6;
    case SB_ACT_SIGMOID:
        return 1 / (1 + exp(-x));
    default:
        return x;
    }
}

/* The activations the random cases draw from: ref_acts(i) for i in [0, REF_N_ACTS). */
#define REF_N_ACTS 6
static inline sb_act ref_acts(int i)
{
    static const sb_act acts[REF_N_ACTS] = {
        {SB_ACT_NONE, 0, 0},         {SB_ACT_RELU, 0, 0},
        {SB_ACT_CLIP, -0.5f, 0.75f}, {SB_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {SB_ACT_HARDSWISH, 0, 0},    {SB_ACT_SIGMOID, 0, 0},
    };
    return acts[i];
}

/* |got - ref| within rtol (1e-5) of the magnitude of the terms summed plus that of the result
 * (the scales at which float rounding errors live), element by element; reports the worst. */
static inline void check_close(const char *what, const float *got, const double *ref,
                               const double *scale, size_t n)
{
    const double rtol = 1e-5;
    size_t worst = 0;
    double worst_ratio = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        double ratio = err / (rtol * scale[i] + 1e-30);
        cr_assert(!isnan(ratio), "%s: element %zu is %g, expected %g", what, i, (double)got[i],
                  ref[i]);
        if (ratio > worst_ratio)
            worst_ratio = ratio, worst = i;
    }
    cr_assert(worst_ratio <= 1.0, "%s: element %zu is %.9g, expected %.9g (scale %.3g)", what,
              worst, (double)got[worst], ref[worst], scale[worst]);
}

/* Bit for bit. */
static inline void check_same(const char *what, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)) != 0)
            cr_assert_fail("%s: element %zu differs: %.9g vs %.9g", what, i, (double)a[i],
                           (double)b[i]);
}

#endif
