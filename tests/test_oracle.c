/* The sample models against PyTorch: logits of the first 256 test images within 1e-4 and the
 * full-test-set accuracy equal to the image (fixtures written by sample_models/make_models.py). */
#include "slimbench.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

static const char *const models[] = {"lenet5", "resnet8", "mobilenet_se"};

static sb_model *load_sample(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, SB_SAMPLE_DIR "/%s.onnx", name);
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), SB_OK, "%s", err.msg);
    return m;
}

static sb_dataset *open_test_split(const sb_model *m, sb_preprocess *pp)
{
    sb_dataset *d = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(m, pp, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &d, &err), SB_OK, "%s", err.msg);
    return d;
}

static void check_logits(const char *name)
{
    sb_model *m = load_sample(name);
    sb_preprocess pp;
    sb_dataset *d = open_test_split(m, &pp);
    char path[256];
    int64_t count;
    snprintf(path, sizeof path, SB_FIXTURE_DIR "/%s_logits256.npy", name);
    float *want = sb_test_read_npy_f32(path, &count);
    cr_assert_not_null(want, "cannot read %s", path);
    cr_assert_eq(count, 256 * 10);
    sb_tensor in = {.dtype = SB_F32, .shape = {4, {256, 1, 28, 28}}};
    in.data = malloc(256 * 28 * 28 * sizeof(float));
    sb_dataset_fill(d, &pp, 0, 256, in.data);
    sb_tensor out;
    sb_error err = {0};
    cr_assert_eq(sb_model_run(m, 1, &in, 1, &out, &err), SB_OK, "%s", err.msg);
    double worst = 0;
    const float *got = out.data;
    for (int64_t i = 0; i < count; i++)
        worst = fmax(worst, fabs((double)got[i] - want[i]));
    cr_expect_leq(worst, 1e-4, "%s: logits differ from PyTorch by up to %g", name, worst);
    sb_tensor_free(&out);
    sb_tensor_free(&in);
    free(want);
    sb_dataset_free(d);
    sb_model_free(m);
}

typedef struct run_result {
    int correct;
    double loss; /* sums every image's logits: equal only if the logits are bit-identical */
} run_result;

static run_result run_with_threads(const char *name, int threads, int batch)
{
    sb_model *m = load_sample(name);
    sb_preprocess pp;
    sb_dataset *d = open_test_split(m, &pp);
    sb_eval_options opt = {.batch = batch, .limit = sb_test_eval_limit()};
    sb_eval_result r;
    sb_error err = {0};
    omp_set_num_threads(threads);
    cr_assert_eq(sb_eval(m, d, &pp, &opt, &r, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(r.images, sb_test_eval_limit() ? sb_test_eval_limit() : 10000);
    run_result out = {r.correct1, r.loss};
    sb_eval_result_free(&r);
    sb_dataset_free(d);
    sb_model_free(m);
    return out;
}

Test(oracle, logits_match_pytorch)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_logits(models[i]);
}

Test(oracle, accuracy_equals_pytorch_to_the_image)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        int want = sb_test_fixture_correct(models[i], "base");
        cr_assert_geq(want, 0, "no base fixture for %s", models[i]);
        int got = run_with_threads(models[i], 2, 64).correct;
        if (!sb_test_eval_limit())
            cr_expect_eq(got, want, "%s: slimbench %d correct, PyTorch %d", models[i], got, want);
    }
}

Test(oracle, accuracy_is_the_same_for_any_thread_count_and_batch)
{
    run_result a = run_with_threads("resnet8", 1, 64);
    run_result b = run_with_threads("resnet8", 2, 256);
    run_result c = run_with_threads("mobilenet_se", 1, 7);
    run_result d = run_with_threads("mobilenet_se", 2, 64);
    cr_expect_eq(a.correct, b.correct);
    cr_expect_eq(a.loss, b.loss, "losses %.17g and %.17g", a.loss, b.loss);
    cr_expect_eq(c.correct, d.correct);
    cr_expect_eq(c.loss, d.loss, "losses %.17g and %.17g", c.loss, d.loss);
}
