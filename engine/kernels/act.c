/* Element-wise activations with ONNX semantics.
 *
 * Every path (scalar, AVX2, AVX-512) performs the same float operations in the same order, so
 * a value gets the same bits whether it was activated alone, inside a GEMM tile or in a long run.
 * min/max are written as `a > x ? a : x`, which is exactly what the x86 max/min instructions
 * compute with the constant as first operand: NaN inputs propagate (as in PyTorch) instead of being
 * clamped away. */
#include "kernels/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SB_X86 1
#endif

static inline float max_c(float c, float x)
{
    return c > x ? c : x;
}

static inline float min_c(float c, float x)
{
    return c < x ? c : x;
}

static inline float relu1(float x)
{
    return max_c(0.0f, x);
}

static inline float clip1(float x, float lo, float hi)
{
    return min_c(hi, max_c(lo, x));
}

/* ONNX HardSigmoid: a*x + b rounded twice (no fused multiply-add), then clamped to [0, 1]. */
static inline float hardsigmoid1(float x, float a, float b)
{
    return max_c(0.0f, min_c(1.0f, a * x + b));
}

/* PyTorch's form, x * relu6(x + 3) / 6, evaluated left to right in float: the models we compare
 * against were exported from PyTorch, and x * (x/6 + 0.5) rounds differently. */
static inline float hardswish1(float x)
{
    float t = min_c(6.0f, max_c(0.0f, x + 3.0f));
    return x * t / 6.0f;
}

/* Mul(x, HardSigmoid(x)), as PyTorch's exporter writes hard-swish at opsets below 14. */
static inline float xhardsigmoid1(float x, float a, float b)
{
    return x * hardsigmoid1(x, a, b);
}

static inline float sigmoid1(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

float sb_act_apply(const sb_act *act, float x)
{
    switch (act->kind) {
    case SB_ACT_NONE:
        return x;
    case SB_ACT_RELU:
        return relu1(x);
    case SB_ACT_CLIP:
        return clip1(x, act->a, act->b);
    case SB_ACT_HARDSIGMOID:
        return hardsigmoid1(x, act->a, act->b);
    case SB_ACT_HARDSWISH:
        return hardswish1(x);
    case SB_ACT_SIGMOID:
        return sigmoid1(x);
    case SB_ACT_XHARDSIGMOID:
        return xhardsigmoid1(x, act->a, act->b);
    }
    return x;
}

static void act_n_scalar(const sb_act *act, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = sb_act_apply(act, x[i]);
}

#ifdef SB_X86

/* One vector step per kind; the scalar helpers above handle the tails, so no masking is needed
 * and both ISAs share the loop structure. */
/* clang-format off */
#define SB_ACT_VLOOP(VT, W, LOAD, STORE, SET1, MAX, MIN, ADD, MUL, DIV)                           \
    do {                                                                                           \
        const VT zero = SET1(0.0f), one = SET1(1.0f), three = SET1(3.0f), six = SET1(6.0f);      \
        const VT va = SET1(act->a), vb = SET1(act->b);                                             \
        size_t i = 0;                                                                              \
        switch (act->kind) {                                                                       \
        case SB_ACT_RELU:                                                                          \
            for (; i + W <= n; i += W)                                                             \
                STORE(x + i, MAX(zero, LOAD(x + i)));                                              \
            break;                                                                                 \
        case SB_ACT_CLIP:                                                                          \
            for (; i + W <= n; i += W)                                                             \
                STORE(x + i, MIN(vb, MAX(va, LOAD(x + i))));                                       \
            break;                                                                                 \
        case SB_ACT_HARDSIGMOID:                                                                   \
            for (; i + W <= n; i += W)                                                             \
                STORE(x + i, MAX(zero, MIN(one, ADD(MUL(va, LOAD(x + i)), vb))));                  \
            break;                                                                                 \
        case SB_ACT_XHARDSIGMOID:                                                                  \
            for (; i + W <= n; i += W) {                                                           \
                VT v = LOAD(x + i);                                                                \
                STORE(x + i, MUL(v, MAX(zero, MIN(one, ADD(MUL(va, v), vb)))));                    \
            }                                                                                      \
            break;                                                                                 \
        case SB_ACT_HARDSWISH:                                                                     \
            for (; i + W <= n; i += W) {                                                           \
                VT v = LOAD(x + i);                                                                \
                VT t = MIN(six, MAX(zero, ADD(v, three)));                                         \
                STORE(x + i, DIV(MUL(v, t), six));                                                 \
            }                                                                                      \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        act_n_scalar(act, x + i, n - i);                                                           \
    } while (0)

/* clang-format on */

__attribute__((target("avx512f"))) static void act_n_avx512(const sb_act *act, float *x, size_t n)
{
    SB_ACT_VLOOP(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_max_ps,
                 _mm512_min_ps, _mm512_add_ps, _mm512_mul_ps, _mm512_div_ps);
}

__attribute__((target("avx2"))) static void act_n_avx2(const sb_act *act, float *x, size_t n)
{
    SB_ACT_VLOOP(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_max_ps,
                 _mm256_min_ps, _mm256_add_ps, _mm256_mul_ps, _mm256_div_ps);
}

#endif

typedef void (*act_n_fn)(const sb_act *act, float *x, size_t n);

/* Follows the GEMM's run-time choice (sb_kernels_isa), looked up once: this is called per tile
 * row by the kernels. */
static act_n_fn act_n_pick(void)
{
    static _Atomic(act_n_fn) fn;
    act_n_fn f = atomic_load_explicit(&fn, memory_order_relaxed);
    if (f)
        return f;
    f = act_n_scalar;
#ifdef SB_X86
    if (strcmp(sb_kernels_isa(), "avx512") == 0)
        f = act_n_avx512;
    else if (strcmp(sb_kernels_isa(), "avx2") == 0)
        f = act_n_avx2;
#endif
    atomic_store_explicit(&fn, f, memory_order_relaxed);
    return f;
}

void sb_act_apply_n(const sb_act *act, float *x, size_t n)
{
    if (act->kind == SB_ACT_NONE || n == 0)
        return;
    /* Sigmoid stays scalar everywhere: a vector exp would not match libm's expf bit for bit. */
    if (act->kind == SB_ACT_SIGMOID)
        act_n_scalar(act, x, n);
    else
        act_n_pick()(act, x, n);
}
