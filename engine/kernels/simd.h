/* Private to the f32 kernels (gemm.c, conv.c, sparse.c): the x86 intrinsics and the function
 * attributes that compile one kernel per ISA in a single build, chosen at run time. */
#ifndef SB_KERNELS_SIMD_H
#define SB_KERNELS_SIMD_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SB_X86 1
#define SB_TGT512 __attribute__((target("avx512f,avx2,fma")))
#define SB_TGT256 __attribute__((target("avx2,fma")))
#endif

#define SB_INLINE static inline __attribute__((always_inline))

#endif
