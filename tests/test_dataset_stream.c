/* Tests for streamed evaluation sets (sb_dataset_open_streamed, sb_dataset_read): the images a
 * streamed dataset gives are bit-identical to the same file loaded whole (the reference path),
 * in any order of reads, for gzip IDX, plain .npy uint8 and float32; malformed files get the
 * same messages at open; a non-finite float is reported when its batch is read; evaluation
 * results are identical. Tests run from the repository root. */
#include "slimbench.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define FIX "tests/data/dataset"
#define BAD FIX "/bad/"

static const sb_preprocess identity = {.scale = 1, .n_mean = 1, .n_std = 1, .std = {1}};

static sb_dataset *open_with(const char *dir, size_t max_resident)
{
    sb_error err = {0};
    sb_dataset *d = NULL;
    cr_assert_eq(sb_dataset_open_streamed(dir, "test", max_resident, &d, &err), SB_OK, "%s: %s",
                 dir, err.msg);
    return d;
}

static size_t image_values(const sb_dataset *d)
{
    sb_shape s = sb_dataset_image_shape(d);
    return (size_t)(s.dim[0] * s.dim[1] * s.dim[2]);
}

/* Reads [start, start+count) from both and compares bit for bit. */
static void same_images(const sb_dataset *mem, const sb_dataset *st, const sb_preprocess *pp,
                        int start, int count)
{
    size_t n = (size_t)count * image_values(mem);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    sb_error err = {0};
    cr_assert_eq(sb_dataset_read(mem, pp, start, count, a, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_read(st, pp, start, count, b, &err), SB_OK, "%s", err.msg);
    cr_assert(memcmp(a, b, n * sizeof *a) == 0, "images %d..%d differ", start, start + count);
    free(a);
    free(b);
}

static void compare_all(const char *dir, const sb_preprocess *pp, int batch)
{
    sb_dataset *mem = open_with(dir, SIZE_MAX), *st = open_with(dir, 0);
    cr_assert(!sb_dataset_is_streamed(mem));
    cr_assert(sb_dataset_is_streamed(st));
    int n = sb_dataset_count(mem);
    cr_assert_eq(sb_dataset_count(st), n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(sb_dataset_label(st, i), sb_dataset_label(mem, i));
    for (int start = 0; start < n; start += batch)
        same_images(mem, st, pp, start, n - start < batch ? n - start : batch);
    same_images(mem, st, pp, n - 1, 1); /* backwards: gzip rewinds */
    same_images(mem, st, pp, 0, 1);
    same_images(mem, st, pp, n / 2, 1);
    sb_dataset_free(mem);
    sb_dataset_free(st);
}

Test(stream, fashion_mnist_gzip_matches_loaded)
{
    sb_preprocess pp = {.scale = 255, .n_mean = 1, .n_std = 1, .mean = {0.2860f}, .std = {0.3530f}};
    compare_all(sb_test_data_dir(), &pp, 1000);
}

Test(stream, npy_u1_and_f4_match_loaded)
{
    compare_all(FIX "/npy_u1", &identity, 3);
    sb_error err = {0};
    sb_dataset *mem = NULL, *st = NULL;
    cr_assert_eq(sb_dataset_open_streamed(FIX "/npy_f4", "train", SIZE_MAX, &mem, &err), SB_OK);
    cr_assert_eq(sb_dataset_open_streamed(FIX "/npy_f4", "train", 0, &st, &err), SB_OK);
    sb_preprocess pp = {.scale = 1, .n_mean = 2, .n_std = 2, .mean = {0.5f, -0.25f},
                        .std = {2.0f, 0.3f}};
    same_images(mem, st, &pp, 0, 3);
    same_images(mem, st, &pp, 2, 1);
    same_images(mem, st, &pp, 1, 2);
    sb_dataset_free(mem);
    sb_dataset_free(st);
}

static void open_fails(const char *dir, const char *msg)
{
    sb_error err = {0};
    sb_dataset *d = NULL;
    cr_assert_eq(sb_dataset_open_streamed(dir, "test", 0, &d, &err), SB_ERR_FORMAT, "%s: %s",
                 dir, err.msg);
    cr_assert_null(d);
    cr_assert_str_eq(err.msg, msg);
}

/* The messages are those of the loading path (tests/test_dataset.c). */
Test(stream, malformed_files_fail_at_open)
{
    open_fails(BAD "truncated-images-idx3-ubyte",
               BAD "truncated-images-idx3-ubyte: truncated: header declares 5 images of 4x3 (60 "
                   "bytes) but the file holds 50 after its 16-byte header; download or export "
                   "it again");
    open_fails(BAD "cut-images-idx3-ubyte.gz",
               BAD "cut-images-idx3-ubyte.gz: truncated: header declares 5 images of 4x3 (60 "
                   "bytes) but the file holds 30 after its 16-byte header (the gzip stream ends "
                   "early); download or export it again");
    open_fails(BAD "notrailer-images-idx3-ubyte.gz",
               BAD "notrailer-images-idx3-ubyte.gz: the gzip stream ends before its checksum; "
                   "the file is incomplete, download it again");
    open_fails(BAD "crc-images-idx3-ubyte.gz",
               BAD "crc-images-idx3-ubyte.gz: cannot decompress: incorrect data check; the gzip "
                   "file is damaged, download it again");
    open_fails(BAD "trailing-images-idx3-ubyte",
               BAD "trailing-images-idx3-ubyte: header declares 5 images of 4x3 (60 bytes) but 3 "
                   "more bytes follow them; the file is corrupt or its header is wrong");
    open_fails(BAD "truncated_images.npy",
               BAD "truncated_images.npy: truncated: header declares 3 images of 2x2 (12 bytes) "
                   "but the file holds 10 after its 128-byte header; download or export it "
                   "again");
}

Test(stream, nan_pixel_reported_when_read)
{
    sb_dataset *d = open_with(BAD "nan_images.npy", 0);
    float x[64];
    sb_error err = {0};
    cr_assert_eq(sb_dataset_read(d, &identity, 0, 1, x, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_read(d, &identity, 0, 2, x, &err), SB_ERR_FORMAT);
    cr_assert_str_eq(err.msg, BAD "nan_images.npy: image 1 holds NaN at channel 0, row 1, column "
                                  "0; float images must be finite (clean them with "
                                  "numpy.nan_to_num)");
    sb_dataset_free(d);
}

Test(stream, evaluation_identical_to_loaded)
{
    sb_error err = {0};
    sb_model *m = NULL;
    cr_assert_eq(sb_model_load(SB_SAMPLE_DIR "/lenet5.onnx", &m, &err), SB_OK, "%s", err.msg);
    sb_preprocess pp;
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK, "%s", err.msg);
    sb_dataset *mem = open_with(sb_test_data_dir(), SIZE_MAX), *st = open_with(sb_test_data_dir(), 0);
    sb_eval_options opt = {.batch = 100, .limit = sb_test_eval_limit()};
    sb_eval_result a, b;
    cr_assert_eq(sb_eval(m, mem, &pp, &opt, &a, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_eval(m, st, &pp, &opt, &b, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(a.images, b.images);
    cr_assert_eq(a.correct1, b.correct1);
    cr_assert_eq(a.correct5, b.correct5);
    cr_assert(memcmp(a.pred, b.pred, (size_t)a.images * sizeof *a.pred) == 0);
    sb_eval_result_free(&a);
    sb_eval_result_free(&b);
    sb_dataset_free(mem);
    sb_dataset_free(st);
    sb_model_free(m);
}
