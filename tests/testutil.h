/* Shared helpers for the Criterion tests. */
#ifndef SB_TESTUTIL_H
#define SB_TESTUTIL_H

#include <stdlib.h>

/* Repository-relative paths work because tests run from the repository root. */
#define SB_SAMPLE_DIR "sample_models"
#define SB_FIXTURE_DIR "sample_models/fixtures"

static inline const char *sb_test_data_dir(void)
{
    const char *d = getenv("SLIMBENCH_DATA");
    return d ? d : "/usr/share/datasets/fashion-mnist";
}

/* Images per evaluation in the oracle suites: all (0), or SB_TEST_LIMIT under the sanitizer
 * pass, which then runs the same compression and evaluation code on a subset; the exact
 * comparisons with PyTorch's full-test-set accuracies are made in the normal pass. */
static inline int sb_test_eval_limit(void)
{
    const char *s = getenv("SB_TEST_LIMIT");
    return s ? atoi(s) : 0;
}

#endif

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Reads a little-endian float32 C-order .npy file (fixtures written by numpy). Returns the data
 * (malloc'd) and the element count, or NULL. */
static inline float *sb_test_read_npy_f32(const char *path, int64_t *count)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    if (!f || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    size_t hlen = head[6] == 1 ? (size_t)(head[8] | head[9] << 8) : 0;
    char hdr[4096] = {0};
    if (hlen == 0 || hlen >= sizeof hdr || fread(hdr, 1, hlen, f) != hlen ||
        !strstr(hdr, "'<f4'") || strstr(hdr, "True")) {
        fclose(f);
        return NULL;
    }
    int64_t n = 1;
    const char *p = strchr(strstr(hdr, "'shape'"), '(') + 1;
    while (*p && *p != ')') {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p)
            break;
        n *= d;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    float *data = malloc((size_t)n * sizeof *data + 1);
    if (data && fread(data, sizeof *data, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *count = n;
    return data;
}

/* Looks up `correct` for (model, case) in sample_models/fixtures/fixtures.csv; -1 if absent. */
static inline int sb_test_fixture_correct(const char *model, const char *cas)
{
    FILE *f = fopen(SB_FIXTURE_DIR "/fixtures.csv", "r");
    char line[512];
    int correct = -1;
    size_t ml = strlen(model), cl = strlen(cas);
    while (f && correct < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, model, ml) == 0 && line[ml] == ',' &&
            strncmp(line + ml + 1, cas, cl) == 0 && line[ml + 1 + cl] == ',')
            correct = atoi(line + ml + 2 + cl);
    if (f)
        fclose(f);
    return correct;
}
