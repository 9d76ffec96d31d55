/* Replays every committed fuzz input (tests/fuzz/corpus/T and tests/fuzz/regressions/T) through
 * the same harness libFuzzer runs (tests/fuzz/harness.c), so `make test` and its ASan pass
 * re-check every input that ever crashed; then states the exact message for each kind of
 * malformed input the fuzzers found. */
#include "harness.h"

#include "compress.h"
#include "slimbench.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
    } while (k > 0);
    fclose(f);
    *size = n;
    return buf;
}

/* Runs every regular file in dir through fn; returns how many. */
static int replay_dir(const char *dir, sb_fuzz_fn fn)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t size;
        uint8_t *data = read_all(path, &size);
        fn(data, size);
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *target)
{
    sb_fuzz_fn fn = sb_fuzz_target(target);
    cr_assert(fn, "no harness named %s", target);
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);
    int seeds = replay_dir(dir, fn);
    snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", target);
    replay_dir(dir, fn);
    cr_assert_gt(seeds, 0, "the seed corpus tests/fuzz/corpus/%s is missing", target);
}

Test(fuzz_replay, onnx) { replay("onnx"); }
Test(fuzz_replay, config_csv) { replay("config_csv"); }
Test(fuzz_replay, idx) { replay("idx"); }
Test(fuzz_replay, npy) { replay("npy"); }

/* ---- the kinds of malformed input the fuzzers found, with their exact messages ---- */

static void model_fails(const char *path, sb_status status, const char *msg)
{
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), status, "%s", err.msg);
    cr_assert_null(m);
    cr_assert_str_eq(err.msg, msg);
}

#define REG "tests/fuzz/regressions/"

/* Two graph inputs of one name gave the plan more buffers than values: a heap overflow. */
Test(fuzz_found, onnx_duplicate_graph_input)
{
    model_fails(REG "onnx/duplicate-graph-input", SB_ERR_FORMAT,
                REG "onnx/duplicate-graph-input: graph input 'value1' is listed twice");
}

/* A Constant node named like a graph input silently turned the input into a constant. */
Test(fuzz_found, onnx_constant_redefines_input)
{
    model_fails(REG "onnx/constant-redefines-input", SB_ERR_FORMAT,
                REG "onnx/constant-redefines-input: node 'Constant' (Constant): output 'x' is "
                    "defined twice");
}

/* transB=127 (tests/data/onnx/tiny_ok.onnx with transB=1 changed) indexed a shape's dims with
 * 127; any non-zero value now means "transposed", so the model equals tiny_ok. */
Test(fuzz_found, onnx_gemm_trans_flag_not_0_or_1)
{
    sb_model *a, *b;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(REG "onnx/gemm-transB-127", &a, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_model_load("tests/data/onnx/tiny_ok.onnx", &b, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_model_num_layers(a), sb_model_num_layers(b));
    for (int i = 0; i < sb_model_num_layers(a); i++) {
        sb_layer_info la, lb;
        cr_assert_eq(sb_model_layer(a, i, &la), SB_OK);
        cr_assert_eq(sb_model_layer(b, i, &lb), SB_OK);
        cr_assert_eq(la.params, lb.params);
        cr_assert_eq(la.macs, lb.macs);
        cr_assert_eq(la.out_channels, lb.out_channels);
    }
    sb_model_free(a);
    sb_model_free(b);
}

/* Empty tensors divided by zero in the channel analysis and the layer statistics. */
Test(fuzz_found, onnx_empty_input)
{
    model_fails(REG "onnx/empty-input-flatten", SB_ERR_UNSUPPORTED,
                REG "onnx/empty-input-flatten: graph input 'x' has shape 1x0x2x2: empty tensors "
                    "are not supported");
}

Test(fuzz_found, onnx_empty_weight)
{
    model_fails(REG "onnx/empty-gemm-weight", SB_ERR_UNSUPPORTED,
                REG "onnx/empty-gemm-weight: node 'Gemm_0' (Gemm): output dimension 1 is 0; "
                    "empty tensors are not supported");
}

/* A Reshape target of 2^62 x 4 overflowed the product of its dimensions (signed overflow). */
Test(fuzz_found, onnx_reshape_target_overflow)
{
    model_fails(REG "onnx/reshape-target-overflow", SB_ERR_SHAPE,
                REG "onnx/reshape-target-overflow: node 'Reshape_0' (Reshape): target dimension 0 "
                    "(4611686018427387904) makes the shape too large");
}
