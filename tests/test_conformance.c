/* ONNX's own operator conformance data (Debian's libonnx-testdata): every node and
 * pytorch-converted case whose operators are all ones slimbench supports is run and compared
 * with the reference outputs (numpy's allclose with ONNX's backend-test tolerances). Cases the
 * engine rejects as unsupported (an element type, a 3-D window, training mode) must be listed
 * in tests/conformance_unsupported.txt with a reason, so none is dropped silently. */
#include "graph.h"
#include "model.h"
#include "onnx_tensor.h"
#include "testutil.h"

#include "onnx.pb-c.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTDATA "/usr/share/libonnx-testdata/data"
#define RTOL 1e-3
#define ATOL 1e-7

/* snprintf through a va_list: path lengths are checked at run time, not guessed at. */
static bool pathf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool pathf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return w >= 0 && (size_t)w < n;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* True when every node of the model is an op we claim to support. */
static bool uses_supported_ops_only(const void *buf, size_t len)
{
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp || !mp->graph)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < mp->graph->n_node; i++) {
        const char *type = mp->graph->node[i]->op_type;
        ok = false;
        for (int op = 0; op < SB_OP_COUNT; op++)
            ok |= strcmp(type, sb_op_name((sb_op)op)) == 0;
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return ok;
}

static bool load_pb(const char *path, sb_tensor *t)
{
    size_t len;
    void *buf = slurp(path, &len);
    sb_error err = {0};
    bool ok = buf && sb_tensor_from_pb(buf, len, path, t, &err) == SB_OK;
    free(buf);
    return ok;
}

static bool close_enough(const sb_tensor *got, const sb_tensor *want, char *why, size_t n)
{
    if (got->shape.rank != want->shape.rank ||
        sb_shape_count(&got->shape) != sb_shape_count(&want->shape)) {
        char a[96], b[96];
        snprintf(why, n, "shape %s, expected %s", sb_shape_str(&got->shape, a, sizeof a),
                 sb_shape_str(&want->shape, b, sizeof b));
        return false;
    }
    const float *g = got->data, *w = want->data;
    for (int64_t i = 0; i < sb_shape_count(&want->shape); i++) {
        bool same_nan = isnan(g[i]) && isnan(w[i]);
        if (!same_nan && !(fabs((double)g[i] - w[i]) <= ATOL + RTOL * fabs((double)w[i]))) {
            snprintf(why, n, "element %lld is %.9g, expected %.9g", (long long)i, g[i], w[i]);
            return false;
        }
    }
    return true;
}

typedef enum { CASE_PASS, CASE_FAIL, CASE_UNSUPPORTED, CASE_SKIP } case_result;

static int count_files(const char *dir, const char *prefix)
{
    int n = 0;
    char path[2048];
    for (;; n++) {
        pathf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        FILE *f = fopen(path, "rb");
        if (!f)
            return n;
        fclose(f);
    }
}

static case_result run_data_set(sb_model *m, const char *set, char *why, size_t n)
{
    enum { MAX_IO = 8 };
    sb_tensor in[MAX_IO] = {0}, want[MAX_IO] = {0}, got[MAX_IO] = {0};
    int n_in = count_files(set, "input"), n_out = count_files(set, "output");
    case_result r = CASE_PASS;
    char path[2048];
    if (n_in > MAX_IO || n_out > MAX_IO)
        return CASE_UNSUPPORTED;
    for (int i = 0; i < n_in && r == CASE_PASS; i++) {
        pathf(path, sizeof path, "%s/input_%d.pb", set, i);
        if (!load_pb(path, &in[i])) {
            snprintf(why, n, "input %d has an unsupported element type", i);
            r = CASE_UNSUPPORTED;
        }
    }
    for (int i = 0; i < n_out && r == CASE_PASS; i++) {
        pathf(path, sizeof path, "%s/output_%d.pb", set, i);
        if (!load_pb(path, &want[i])) {
            snprintf(why, n, "output %d has an unsupported element type", i);
            r = CASE_UNSUPPORTED;
        }
    }
    sb_error err = {0};
    if (r == CASE_PASS && sb_model_run(m, n_in, in, n_out, got, &err)) {
        snprintf(why, n, "%s", err.msg);
        r = err.status == SB_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
    }
    for (int i = 0; i < n_out && r == CASE_PASS; i++)
        if (!close_enough(&got[i], &want[i], why, n))
            r = CASE_FAIL;
    for (int i = 0; i < MAX_IO; i++) {
        sb_tensor_free(&in[i]);
        sb_tensor_free(&want[i]);
        sb_tensor_free(&got[i]);
    }
    return r;
}

static case_result run_case(const char *dir, char *why, size_t n)
{
    char path[2048];
    size_t len;
    pathf(path, sizeof path, "%s/model.onnx", dir);
    void *buf = slurp(path, &len);
    if (!buf || !uses_supported_ops_only(buf, len)) {
        free(buf);
        return CASE_SKIP;
    }
    sb_model *m = NULL;
    sb_error err = {0};
    sb_status s = sb_model_load_mem(buf, len, "model.onnx", &m, &err);
    free(buf);
    if (s) {
        snprintf(why, n, "%s", err.msg);
        return s == SB_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
    }
    case_result r = CASE_SKIP;
    for (int k = 0;; k++) {
        pathf(path, sizeof path, "%s/test_data_set_%d", dir, k);
        DIR *d = opendir(path);
        if (!d)
            break;
        closedir(d);
        r = run_data_set(m, path, why, n);
        if (r != CASE_PASS)
            break;
    }
    sb_model_free(m);
    return r;
}

static bool listed_unsupported(const char *name)
{
    FILE *f = fopen("tests/conformance_unsupported.txt", "r");
    char line[512];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, " \t\n");
        found = n == strlen(name) && strncmp(line, name, n) == 0;
    }
    if (f)
        fclose(f);
    return found;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(conformance, onnx_backend_node_and_pytorch_cases)
{
    const char *suites[] = {"node", "pytorch-converted", "pytorch-operator"};
    int run = 0, passed = 0, unsupported = 0, failed = 0, unlisted = 0;
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        char root[512];
        pathf(root, sizeof root, "%s/%s", TESTDATA, suites[s]);
        struct dirent **names;
        int n = scandir(root, &names, NULL, alphasort);
        cr_assert(n > 0, "libonnx-testdata is not installed (%s)", root);
        for (int i = 0; i < n; i++) {
            char dir[1024], why[1200] = "";
            pathf(dir, sizeof dir, "%s/%s", root, names[i]->d_name);
            case_result r = names[i]->d_name[0] == '.' ? CASE_SKIP : run_case(dir, why, sizeof why);
            if (r == CASE_PASS)
                run++, passed++;
            else if (r == CASE_FAIL) {
                run++, failed++;
                cr_log_error("FAIL %s/%s: %s", suites[s], names[i]->d_name, why);
            } else if (r == CASE_UNSUPPORTED) {
                unsupported++;
                bool listed = listed_unsupported(names[i]->d_name);
                unlisted += !listed;
                printf("  unsupported%s: %s/%s: %s\n", listed ? "" : " (NOT LISTED)", suites[s],
                       names[i]->d_name, why);
            }
            free(names[i]);
        }
        free(names);
    }
    printf("conformance: %d cases run, %d passed, %d failed; %d unsupported (listed above)\n",
           run, passed, failed, unsupported);
    cr_expect_eq(failed, 0, "%d conformance cases failed", failed);
    cr_expect_eq(unlisted, 0,
                 "%d unsupported cases are missing from tests/conformance_unsupported.txt",
                 unlisted);
    cr_expect(run > 100, "only %d cases ran", run);
    (void)cmp_str;
}
