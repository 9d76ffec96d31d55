/* Forking a loop over the OpenMP team only when it pays. */
#ifndef SB_PAR_H
#define SB_PAR_H

#include <omp.h>
#include <stdbool.h>

/* Whether a loop over `work` elements should fork: at least `min` of them, more than one thread,
 * and not already inside a team. libgomp enters its runtime, with a futex system call, even for
 * `parallel if (0)` and for nested regions that end up with one thread (about 20 per resnet8
 * image, >10% of its evaluation time), so a loop that stays serial must not reach the pragma. */
static inline bool sb_fork(double work, double min)
{
    return work >= min && !omp_in_parallel() && omp_get_max_threads() > 1;
}

/* for (TYPE VAR = 0; VAR < N; VAR++) { body }, split statically over the team when FORK. */
#define SB_FOR(FORK, TYPE, VAR, N, ...)                                                            \
    do {                                                                                           \
        if (FORK) {                                                                                \
            _Pragma("omp parallel for schedule(static)") for (TYPE VAR = 0; VAR < (N); VAR++)      \
            {                                                                                      \
                __VA_ARGS__                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (TYPE VAR = 0; VAR < (N); VAR++) {                                                 \
                __VA_ARGS__                                                                        \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
