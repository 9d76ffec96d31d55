/* Unstructured magnitude pruning: the k = round(ratio x count) weights of smallest magnitude
 * become zero, ties broken by position. Only Conv/Gemm/MatMul weights: never biases, never
 * BatchNorm parameters. */
#include "prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* |w| as ordered bits in the high half, the position in the low half: every key is unique and
 * comparing keys compares (|w|, position). */
static uint64_t key_of(float w, uint64_t pos)
{
    uint32_t bits;
    float a = fabsf(w);
    memcpy(&bits, &a, sizeof bits);
    return (uint64_t)bits << 32 | pos;
}

static void swap64(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges keys so keys[k] is the k-th smallest (Hoare's selection, median of three). */
static void select_kth(uint64_t *keys, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < keys[lo])
            swap64(&keys[mid], &keys[lo]);
        if (keys[hi] < keys[lo])
            swap64(&keys[hi], &keys[lo]);
        if (keys[hi] < keys[mid])
            swap64(&keys[hi], &keys[mid]);
        uint64_t pivot = keys[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (keys[i] < pivot)
                i++;
            while (keys[j] > pivot)
                j--;
            if (i <= j)
                swap64(&keys[i++], &keys[j--]);
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

int64_t sb_prune_count(double ratio, int64_t n)
{
    int64_t k = (int64_t)nearbyint(ratio * (double)n); /* half to even, as Python's round */
    return k < 0 ? 0 : k > n ? n : k;
}

sb_status sb_prune_magnitude(float *const *w, const int64_t *len, int n_tensors, double ratio,
                             sb_error *err)
{
    int64_t total = 0;
    for (int t = 0; t < n_tensors; t++)
        total += len[t];
    int64_t k = sb_prune_count(ratio, total);
    if (k == 0 || total >= ((int64_t)1 << 32))
        return k == 0 ? SB_OK : sb_error_set(err, SB_ERR_UNSUPPORTED, "too many weights");
    uint64_t *keys = malloc((size_t)total * sizeof *keys);
    if (!keys)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory pruning %lld weights",
                            (long long)total);
    int64_t pos = 0;
    for (int t = 0; t < n_tensors; t++)
        for (int64_t i = 0; i < len[t]; i++, pos++)
            keys[pos] = key_of(w[t][i], (uint64_t)pos);
    select_kth(keys, total, k - 1);
    uint64_t last = keys[k - 1];
    free(keys);
    pos = 0;
    for (int t = 0; t < n_tensors; t++)
        for (int64_t i = 0; i < len[t]; i++, pos++)
            if (key_of(w[t][i], (uint64_t)pos) <= last)
                w[t][i] = 0.0f;
    return SB_OK;
}
