/* Tests for engine/dataset.c: loading IDX and .npy datasets, preprocessing, metadata parsing.
 *
 * Known values for Fashion-MNIST were computed once, independently of this code, from the
 * distributed .gz files with Python's gzip module and numpy (/usr/bin/python3); they are truth
 * about the files, not output of the engine. Small fixtures come from
 * tests/data/dataset/make_fixtures.py. Tests run from the repository root. */
#include "slimbench.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define FIX "tests/data/dataset"

/* ---- helpers ---- */

static const sb_preprocess identity = {.scale = 1, .n_mean = 1, .n_std = 1, .std = {1}};

static sb_dataset *open_ok(const char *dir, const char *split)
{
    sb_error err = {0};
    sb_dataset *d = NULL;
    sb_status s = sb_dataset_open(dir, split, &d, &err);
    cr_assert_eq(s, SB_OK, "%s (%s): %s", dir, split, err.msg);
    cr_assert_not_null(d);
    return d;
}

static void open_fails(const char *dir, const char *split, sb_status want, const char *msg)
{
    sb_error err = {0};
    sb_dataset *d = NULL;
    sb_status s = sb_dataset_open(dir, split, &d, &err);
    cr_assert_eq(s, want, "%s: status %s, want %s: %s", dir, sb_status_str(s), sb_status_str(want),
                 err.msg);
    cr_assert_eq(err.status, want);
    cr_assert_null(d);
    cr_assert_str_eq(err.msg, msg);
}

static void assert_shape(const sb_dataset *d, int64_t c, int64_t h, int64_t w)
{
    sb_shape s = sb_dataset_image_shape(d);
    cr_assert_eq(s.rank, 3);
    cr_assert_eq(s.dim[0], c);
    cr_assert_eq(s.dim[1], h);
    cr_assert_eq(s.dim[2], w);
}

static void assert_labels(const sb_dataset *d, const int *want, int n)
{
    cr_assert(sb_dataset_has_labels(d));
    for (int i = 0; i < n; i++)
        cr_assert_eq(sb_dataset_label(d, i), want[i], "label %d: %d, want %d", i,
                     sb_dataset_label(d, i), want[i]);
}

/* The uint8 fixture pattern of make_fixtures.py: value k (flat C,H,W) of image i. */
static float fixture_pixel(int i, int k)
{
    return i == 0 && k == 0 ? 255.0f : (float)((17 * i + 31 * k) % 256);
}

/* Fills all images with identity preprocessing and checks the pixel pattern. */
static void assert_pattern(const sb_dataset *d, int per_image)
{
    int n = sb_dataset_count(d);
    float *x = malloc((size_t)n * (size_t)per_image * sizeof *x);
    cr_assert_not_null(x);
    sb_dataset_fill(d, &identity, 0, n, x);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < per_image; k++)
            cr_assert_eq(x[i * per_image + k], fixture_pixel(i, k), "image %d value %d: %g", i, k,
                         (double)x[i * per_image + k]);
    free(x);
}

/* Sum of raw pixel values of images [start, start+count), through identity preprocessing. */
static double pixel_sum(const sb_dataset *d, int start, int count)
{
    const int per = 28 * 28, chunk = 1000;
    float *x = malloc((size_t)chunk * per * sizeof *x);
    cr_assert_not_null(x);
    double sum = 0;
    for (int i = start; i < start + count; i += chunk) {
        int k = start + count - i < chunk ? start + count - i : chunk;
        sb_dataset_fill(d, &identity, i, k, x);
        for (int j = 0; j < k * per; j++)
            sum += x[j];
    }
    free(x);
    return sum;
}

static void assert_histogram(const sb_dataset *d, int per_class)
{
    int hist[10] = {0};
    for (int i = 0; i < sb_dataset_count(d); i++) {
        int y = sb_dataset_label(d, i);
        cr_assert(y >= 0 && y < 10, "label %d is %d", i, y);
        hist[y]++;
    }
    for (int c = 0; c < 10; c++)
        cr_assert_eq(hist[c], per_class, "class %d: %d images", c, hist[c]);
}

/* ---- the real Fashion-MNIST files ---- */

Test(fashion_mnist, test_split)
{
    sb_dataset *d = open_ok(sb_test_data_dir(), "test");
    cr_assert_eq(sb_dataset_count(d), 10000);
    assert_shape(d, 1, 28, 28);
    static const int first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    assert_labels(d, first, 10);
    cr_assert_eq(sb_dataset_label(d, 9999), 5);
    assert_histogram(d, 1000);
    cr_assert_eq(pixel_sum(d, 0, 1), 33456.0);
    cr_assert_eq(pixel_sum(d, 9999, 1), 24390.0);
    cr_assert_eq(pixel_sum(d, 0, 10000), 573469082.0);
    sb_dataset_free(d);
}

Test(fashion_mnist, train_split)
{
    sb_dataset *d = open_ok(sb_test_data_dir(), "train");
    cr_assert_eq(sb_dataset_count(d), 60000);
    assert_shape(d, 1, 28, 28);
    static const int first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    assert_labels(d, first, 10);
    cr_assert_eq(sb_dataset_label(d, 59999), 5);
    assert_histogram(d, 6000);
    cr_assert_eq(pixel_sum(d, 0, 1), 76247.0);
    cr_assert_eq(pixel_sum(d, 59999, 1), 16684.0);
    cr_assert_eq(pixel_sum(d, 0, 60000), 3431114169.0);
    sb_dataset_free(d);
}

/* Normalize(0.2860, 0.3530) after ToTensor; expected floats computed in numpy float32 as
 * ((x.astype(float32) / float32(255)) - float32(0.286)) / float32(0.353). */
Test(fashion_mnist, normalised_like_torchvision)
{
    sb_dataset *d = open_ok(sb_test_data_dir(), "test");
    sb_preprocess pp = {
        .scale = 255, .n_mean = 1, .n_std = 1, .mean = {(float)0.2860}, .std = {(float)0.3530}};
    float x[28 * 28];
    sb_dataset_fill(d, &pp, 0, 1, x);
    cr_assert_eq(x[14 * 28 + 14], 0x1.a5b434p-2f); /* pixel value 110 */
    cr_assert_eq(x[0], -0x1.9ed252p-1f);           /* pixel value 0 */
    double sum = 0;
    for (int k = 0; k < 28 * 28; k++)
        sum += x[k];
    cr_assert(fabs(sum - -263.5241069123149) < 1e-9, "sum %.17g", sum);
    sb_dataset_free(d);
}

/* Batches filled in parallel match images filled one by one. */
Test(fashion_mnist, parallel_fill_matches_single)
{
    sb_dataset *d = open_ok(sb_test_data_dir(), "test");
    sb_preprocess pp = {.scale = 255, .n_mean = 1, .n_std = 1, .mean = {0.2860f}, .std = {0.3530f}};
    const int n = 500, per = 28 * 28;
    float *all = malloc((size_t)n * per * sizeof *all), one[28 * 28];
    cr_assert_not_null(all);
    sb_dataset_fill(d, &pp, 100, n, all);
    for (int i = 0; i < n; i++) {
        sb_dataset_fill(d, &pp, 100 + i, 1, one);
        cr_assert(!memcmp(one, all + (size_t)i * per, sizeof one), "image %d differs", 100 + i);
    }
    free(all);
    sb_dataset_free(d);
}

Test(fashion_mnist, images_file_given_directly)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", sb_test_data_dir());
    sb_dataset *d = open_ok(path, "train"); /* the split does not apply to a file */
    cr_assert_eq(sb_dataset_count(d), 10000);
    static const int first[3] = {9, 2, 1};
    assert_labels(d, first, 3);
    sb_dataset_free(d);
}

/* ---- small valid fixtures ---- */

Test(fixtures, idx_plain)
{
    sb_dataset *d = open_ok(FIX "/idx", "test");
    cr_assert_eq(sb_dataset_count(d), 5);
    assert_shape(d, 1, 4, 3);
    static const int want[5] = {3, 1, 4, 1, 5};
    assert_labels(d, want, 5);
    assert_pattern(d, 12);
    sb_dataset_free(d);
}

Test(fixtures, idx_gzip_images_plain_labels)
{
    sb_dataset *d = open_ok(FIX "/idx/", "train");
    cr_assert_eq(sb_dataset_count(d), 3);
    assert_shape(d, 1, 2, 2);
    static const int want[3] = {7, 0, 9};
    assert_labels(d, want, 3);
    assert_pattern(d, 4);
    sb_dataset_free(d);
}

Test(fixtures, idx_4d_file_with_labels_beside)
{
    sb_dataset *d = open_ok(FIX "/idx4/rgb-images-idx4-ubyte", "test");
    cr_assert_eq(sb_dataset_count(d), 2);
    assert_shape(d, 3, 2, 2);
    static const int want[2] = {1, 0};
    assert_labels(d, want, 2);
    assert_pattern(d, 12);
    sb_dataset_free(d);
}

Test(fixtures, npy_u1_images_i8_labels)
{
    sb_dataset *d = open_ok(FIX "/npy_u1", "test");
    cr_assert_eq(sb_dataset_count(d), 4);
    assert_shape(d, 1, 3, 2);
    static const int want[4] = {2, 7, 1, 8};
    assert_labels(d, want, 4);
    assert_pattern(d, 6);
    sb_dataset_free(d);
}

/* Float images are already scaled: scale is ignored, mean/std apply per channel. */
Test(fixtures, npy_f4_images_i4_labels)
{
    sb_dataset *d = open_ok(FIX "/npy_f4", "train");
    cr_assert_eq(sb_dataset_count(d), 3);
    assert_shape(d, 2, 2, 2);
    static const int want[3] = {0, 1, 2};
    assert_labels(d, want, 3);
    sb_preprocess pp = {
        .scale = 255, .n_mean = 2, .n_std = 2, .mean = {0.5f, -0.25f}, .std = {2.0f, 0.3f}};
    float x[24];
    sb_dataset_fill(d, &pp, 0, 3, x);
    for (int j = 0; j < 24; j++) {
        int c = j / 4 % 2;
        float v = (float)j * 0.25f - 1.0f;
        float e = (v - pp.mean[c]) / pp.std[c];
        cr_assert_eq(x[j], e, "value %d: %a, want %a", j, (double)x[j], (double)e);
    }
    sb_dataset_free(d);
}

Test(fixtures, npy_file_with_labels_beside)
{
    sb_dataset *d = open_ok(FIX "/beside/x_images.npy", "test");
    static const int want[2] = {5, 6};
    assert_labels(d, want, 2);
    assert_pattern(d, 4);
    sb_dataset_free(d);
}

Test(fixtures, npy_format_versions_2_and_3)
{
    const char *files[] = {FIX "/versions/v2_images.npy", FIX "/versions/v3_images.npy"};
    for (int i = 0; i < 2; i++) {
        sb_dataset *d = open_ok(files[i], "test");
        cr_assert_eq(sb_dataset_count(d), 2);
        assert_shape(d, 1, 2, 2);
        cr_assert(!sb_dataset_has_labels(d));
        assert_pattern(d, 4);
        sb_dataset_free(d);
    }
}

Test(fixtures, images_without_labels)
{
    sb_dataset *d = open_ok(FIX "/no_labels", "test");
    cr_assert_eq(sb_dataset_count(d), 2);
    cr_assert(!sb_dataset_has_labels(d));
    cr_assert_eq(sb_dataset_label(d, 0), -1);
    sb_dataset_free(d);
}

Test(fixtures, accessors_tolerate_bad_arguments)
{
    sb_dataset *d = open_ok(FIX "/idx", "test");
    cr_assert_eq(sb_dataset_label(d, -1), -1);
    cr_assert_eq(sb_dataset_label(d, 5), -1);
    cr_assert_eq(sb_dataset_count(NULL), 0);
    cr_assert_eq(sb_dataset_image_shape(NULL).rank, 0);
    cr_assert(!sb_dataset_has_labels(NULL));
    float x[13] = {0};
    x[12] = 42;
    sb_dataset_fill(d, &identity, 4, 2, x); /* past the end: nothing written */
    sb_dataset_fill(d, &identity, 4, 1, x); /* the last image: exactly 12 values */
    cr_assert_eq(x[0], fixture_pixel(4, 0));
    cr_assert_eq(x[12], 42.0f);
    sb_dataset_free(NULL);
    sb_dataset_free(d);
}

/* pixel 255 with ToTensor (scale 255) and Normalize(0.2860, 0.3530), in float32: PyTorch
 * turns the Python floats into float32 by rounding the double. */
Test(fixtures, preprocessing_is_exact_float32)
{
    sb_dataset *d = open_ok(FIX "/idx", "test");
    sb_preprocess pp = {
        .scale = 255, .n_mean = 1, .n_std = 1, .mean = {(float)0.2860}, .std = {(float)0.3530}};
    float x[12];
    sb_dataset_fill(d, &pp, 0, 1, x);
    volatile float one = 255.0f / 255.0f; /* volatile: computed at run time in float32 */
    float want = (one - (float)0.2860) / (float)0.3530;
    cr_assert_eq(x[0], want, "%a vs %a", (double)x[0], (double)want);
    cr_assert_eq(x[0], 0x1.02e69ep+1f); /* numpy float32, see fashion_mnist above */
    float v31 = (31.0f / 255.0f - (float)0.2860) / (float)0.3530; /* pixel k=1 of image 0 */
    cr_assert_eq(x[1], v31);
    sb_dataset_free(d);
}

/* ---- malformed input: exact messages ---- */

#define BAD FIX "/bad/"

Test(errors, truncated_idx)
{
    open_fails(BAD "truncated-images-idx3-ubyte", "test", SB_ERR_FORMAT,
               BAD "truncated-images-idx3-ubyte: truncated: header declares 5 images of 4x3 (60 "
                   "bytes) but the file holds 50 after its 16-byte header; download or export "
                   "it again");
}

Test(errors, truncated_gzip_stream)
{
    open_fails(BAD "cut-images-idx3-ubyte.gz", "test", SB_ERR_FORMAT,
               BAD "cut-images-idx3-ubyte.gz: truncated: header declares 5 images of 4x3 (60 "
                   "bytes) but the file holds 30 after its 16-byte header (the gzip stream ends "
                   "early); download or export it again");
}

Test(errors, gzip_without_trailer)
{
    open_fails(BAD "notrailer-images-idx3-ubyte.gz", "test", SB_ERR_FORMAT,
               BAD "notrailer-images-idx3-ubyte.gz: the gzip stream ends before its checksum; "
                   "the file is incomplete, download it again");
}

Test(errors, gzip_bad_checksum)
{
    open_fails(BAD "crc-images-idx3-ubyte.gz", "test", SB_ERR_FORMAT,
               BAD "crc-images-idx3-ubyte.gz: cannot decompress: incorrect data check; the gzip "
                   "file is damaged, download it again");
}

Test(errors, trailing_data)
{
    open_fails(BAD "trailing-images-idx3-ubyte", "test", SB_ERR_FORMAT,
               BAD "trailing-images-idx3-ubyte: header declares 5 images of 4x3 (60 bytes) but 3 "
                   "more bytes follow them; the file is corrupt or its header is wrong");
}

Test(errors, bad_magic)
{
    open_fails(BAD "badmagic-images-idx3-ubyte", "test", SB_ERR_FORMAT,
               BAD "badmagic-images-idx3-ubyte: not an IDX file: it starts with bytes 50 35 0a "
                   "34 where IDX has 00 00, a type code (08 for unsigned bytes) and a dimension "
                   "count; pass MNIST-style IDX files or NumPy .npy arrays");
}

Test(errors, idx_float_type)
{
    open_fails(BAD "float-images-idx3-ubyte", "test", SB_ERR_UNSUPPORTED,
               BAD "float-images-idx3-ubyte: IDX element type 0x0d (float32) is not supported, "
                   "only unsigned bytes (0x08) are; convert the data to uint8 or save it as a "
                   "float32 .npy array");
}

Test(errors, label_count_mismatch)
{
    open_fails(BAD "mismatch-images-idx3-ubyte", "test", SB_ERR_SHAPE,
               BAD "mismatch-labels-idx1-ubyte: holds 4 labels but " BAD
                   "mismatch-images-idx3-ubyte holds 5 images; images and labels must come from "
                   "the same split");
}

Test(errors, labels_not_1d)
{
    open_fails(BAD "labelrank-images-idx3-ubyte", "test", SB_ERR_SHAPE,
               BAD "labelrank-labels-idx1-ubyte: holds a 2-D array (2x1) but labels must be 1-D "
                   "(N)");
}

Test(errors, absurd_dims_overflow)
{
    open_fails(BAD "absurd-images-idx3-ubyte", "test", SB_ERR_FORMAT,
               BAD "absurd-images-idx3-ubyte: the header declares shape "
                   "2147483647x4294967295x4294967295, more than the 8 GiB a dataset array may "
                   "hold; the header is corrupt or this is not a dataset file");
}

Test(errors, dims_over_cap)
{
    open_fails(BAD "huge-images-idx3-ubyte", "test", SB_ERR_FORMAT,
               BAD "huge-images-idx3-ubyte: the header declares shape 100000x1000x1000, more "
                   "than the 8 GiB a dataset array may hold; the header is corrupt or this is "
                   "not a dataset file");
}

Test(errors, zero_images)
{
    open_fails(BAD "empty-images-idx3-ubyte", "test", SB_ERR_FORMAT,
               BAD "empty-images-idx3-ubyte: the header declares shape 0x28x28, which holds no "
                   "data; the file is empty or its header is corrupt");
}

Test(errors, npy_fortran_order)
{
    open_fails(BAD "fortran_images.npy", "test", SB_ERR_UNSUPPORTED,
               BAD "fortran_images.npy: the array is stored in Fortran (column-major) order, "
                   "which is not supported; save it with numpy.save(path, "
                   "numpy.ascontiguousarray(a))");
}

Test(errors, npy_bad_header)
{
    open_fails(BAD "badheader_images.npy", "test", SB_ERR_FORMAT,
               BAD "badheader_images.npy: malformed NumPy header at character 51: expected '(' "
                   "starting the shape tuple, in \"{'descr': '|u1', 'fortran_order': False, "
                   "'shape': [2, 2, 2], }\"; save the array with numpy.save");
}

Test(errors, npy_version_4)
{
    open_fails(BAD "v4_images.npy", "test", SB_ERR_UNSUPPORTED,
               BAD "v4_images.npy: NumPy file format version 4.0 is not supported (1.0, 2.0 and "
                   "3.0 are); save the array with numpy.save");
}

Test(errors, npy_truncated)
{
    open_fails(BAD "truncated_images.npy", "test", SB_ERR_FORMAT,
               BAD "truncated_images.npy: truncated: header declares 3 images of 2x2 (12 bytes) "
                   "but the file holds 10 after its 128-byte header; download or export it "
                   "again");
}

Test(errors, npy_float64_images)
{
    open_fails(BAD "f8_images.npy", "test", SB_ERR_UNSUPPORTED,
               BAD "f8_images.npy: dtype '<f8' is not supported for images; use uint8 ('|u1') "
                   "or float32 ('<f4'), e.g. numpy.save(path, a.astype(numpy.float32))");
}

Test(errors, npy_nan_pixel)
{
    open_fails(BAD "nan_images.npy", "test", SB_ERR_FORMAT,
               BAD "nan_images.npy: image 1 holds NaN at channel 0, row 1, column 0; float images "
                   "must be finite (clean them with numpy.nan_to_num)");
}

Test(errors, npy_channels_last)
{
    open_fails(BAD "nhwc_images.npy", "test", SB_ERR_UNSUPPORTED,
               BAD "nhwc_images.npy: images of shape 2x5x5x1 have 5 channels; at most 4 are "
                   "supported. Images must be N,C,H,W: convert channels-last arrays with "
                   "numpy.transpose(a, (0, 3, 1, 2))");
}

Test(errors, negative_label)
{
    open_fails(BAD "neg_images.npy", "test", SB_ERR_FORMAT,
               BAD "neg_labels.npy: label 1 is -1; labels must be class indices from 0 to "
                   "2147483647");
}

Test(errors, directory_without_images)
{
    open_fails(FIX "/bad", "test", SB_ERR_IO,
               FIX "/bad: no test images found: looked for t10k-images-idx3-ubyte, "
                   "t10k-images-idx3-ubyte.gz and test_images.npy; pass the directory holding "
                   "the dataset or the images file itself");
}

Test(errors, missing_directory)
{
    open_fails(FIX "/nowhere", "test", SB_ERR_IO,
               FIX "/nowhere: No such file or directory; pass the directory holding the dataset "
                   "or the images file itself");
}

Test(errors, unknown_split)
{
    open_fails(FIX "/idx", "valid", SB_ERR_ARG,
               "unknown dataset split \"valid\"; use \"test\" or \"train\"");
}

/* ---- sb_parse_float_list ---- */

static void parse_fails(const char *s, int max, const char *msg)
{
    float v[4] = {0};
    int n = -1;
    sb_error err = {0};
    cr_assert_eq(sb_parse_float_list(s, v, max, &n, &err), SB_ERR_FORMAT, "\"%s\"", s);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(err.msg, msg);
}

Test(parse, lists)
{
    float v[4];
    int n = 0;
    sb_error err = {0};
    cr_assert_eq(sb_parse_float_list("0.485,0.456,0.406", v, 4, &n, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(v[0], (float)0.485);
    cr_assert_eq(v[1], (float)0.456);
    cr_assert_eq(v[2], (float)0.406);
    cr_assert_eq(sb_parse_float_list(" 255 ", v, 1, &n, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_eq(v[0], 255.0f);
    cr_assert_eq(sb_parse_float_list("1, -2e-1 ,\t3", v, 4, &n, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(v[1], -0.2f);
}

/* PyTorch rounds the Python double to float32; strtof would round the decimal once and give
 * 1.0000001 here. numpy: np.float32(1.0000000596046448) == 1.0. */
Test(parse, rounds_through_double_like_pytorch)
{
    float v[1];
    int n = 0;
    sb_error err = {0};
    cr_assert_eq(sb_parse_float_list("1.0000000596046448", v, 1, &n, &err), SB_OK);
    cr_assert_eq(v[0], 1.0f);
    cr_assert_eq(sb_parse_float_list("0.2860", v, 1, &n, &err), SB_OK);
    cr_assert_eq(v[0], 0x1.24dd3p-2f);
}

Test(parse, errors)
{
    parse_fails("", 4,
                "\"\" holds no numbers; write decimal numbers separated by commas, e.g. "
                "0.485,0.456,0.406");
    parse_fails("0.5,,0.3", 4,
                "item 2 of \"0.5,,0.3\" is empty; write decimal numbers separated by commas, "
                "e.g. 0.485,0.456,0.406");
    parse_fails("0.5,", 4,
                "item 2 of \"0.5,\" is empty; write decimal numbers separated by commas, e.g. "
                "0.485,0.456,0.406");
    parse_fails("0.5, abc", 4,
                "item 2 of \"0.5, abc\" (\"abc\") is not a number; write decimal numbers "
                "separated by commas, e.g. 0.485,0.456,0.406");
    parse_fails("0.5x", 4,
                "item 1 of \"0.5x\" (\"0.5x\") is not a number; write decimal numbers separated "
                "by commas, e.g. 0.485,0.456,0.406");
    parse_fails("0.5 0.3", 4,
                "item 1 of \"0.5 0.3\" (\"0.5 0.3\") is not a number; write decimal numbers "
                "separated by commas, e.g. 0.485,0.456,0.406");
    parse_fails("nan", 4,
                "item 1 of \"nan\" (\"nan\") is not a finite float32 value; write decimal numbers "
                "separated by commas, e.g. 0.485,0.456,0.406");
    parse_fails("1,1e39", 4,
                "item 2 of \"1,1e39\" (\"1e39\") is not a finite float32 value; write decimal "
                "numbers separated by commas, e.g. 0.485,0.456,0.406");
    parse_fails("1,2,3,4,5", 4, "\"1,2,3,4,5\" has 5 values but at most 4 are accepted");
    parse_fails("1,2", 1, "\"1,2\" has 2 values but at most 1 is accepted");
}

/* ---- sb_preprocess_from_model, on models carrying metadata (tests/data/onnx/meta_*) ---- */

#define META(name) "tests/data/onnx/" name ".onnx"

static sb_model *load_model(const char *path)
{
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), SB_OK, "%s", err.msg);
    return m;
}

static sb_preprocess pp_ok(const char *path)
{
    sb_model *m = load_model(path);
    sb_preprocess pp;
    sb_error err = {0};
    memset(&pp, 0xAB, sizeof pp);
    sb_status s = sb_preprocess_from_model(m, &pp, &err);
    sb_model_free(m);
    cr_assert_eq(s, SB_OK, "%s", err.msg);
    return pp;
}

static void pp_fails(const char *path, const char *msg)
{
    sb_model *m = load_model(path);
    sb_preprocess pp = identity;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_ERR_FORMAT);
    sb_model_free(m);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_eq(pp.scale, 1.0f); /* untouched on failure */
}

Test(preprocess, identity_without_metadata)
{
    sb_preprocess pp = pp_ok(META("tiny_ok"));
    cr_assert_eq(pp.scale, 1.0f);
    cr_assert_eq(pp.n_mean, 1);
    cr_assert_eq(pp.n_std, 1);
    cr_assert_eq(pp.mean[0], 0.0f);
    cr_assert_eq(pp.std[0], 1.0f);
}

Test(preprocess, fashion_mnist_metadata)
{
    sb_preprocess pp = pp_ok(META("meta_fashion"));
    cr_assert_eq(pp.scale, 255.0f);
    cr_assert_eq(pp.n_mean, 1);
    cr_assert_eq(pp.n_std, 1);
    cr_assert_eq(pp.mean[0], 0x1.24dd3p-2f); /* numpy: float(np.float32(0.286)).hex() */
    cr_assert_eq(pp.std[0], 0x1.6978d4p-2f); /* numpy: float(np.float32(0.353)).hex() */
}

Test(preprocess, per_channel_metadata)
{
    sb_preprocess pp = pp_ok(META("meta_rgb"));
    cr_assert_eq(pp.scale, 1.0f);
    cr_assert_eq(pp.n_mean, 3);
    cr_assert_eq(pp.n_std, 3);
    cr_assert_eq(pp.mean[2], (float)0.406);
    cr_assert_eq(pp.std[1], (float)0.224);
}

Test(preprocess, invalid_metadata)
{
    pp_fails(META("meta_scale_bad"),
             META("meta_scale_bad") ": metadata preprocess.scale: item 1 of \"255x\" (\"255x\") "
                                    "is not a number; write decimal numbers separated by commas, "
                                    "e.g. 0.485,0.456,0.406");
    pp_fails(META("meta_scale_zero"),
             META("meta_scale_zero") ": metadata preprocess.scale is \"0\", but raw pixels are "
                                     "divided by it; use 255 for inputs in [0,1] or 1 to keep raw "
                                     "values");
    pp_fails(META("meta_std_zero"),
             META("meta_std_zero") ": metadata preprocess.std is \"0.5, 0\": value 2 is 0, but "
                                   "standard deviations divide and must be non-zero");
    pp_fails(META("meta_counts"),
             META("meta_counts") ": metadata preprocess.mean has 3 values but preprocess.std has "
                                 "2; give one per channel or a single value for all channels");
    pp_fails(META("meta_many"),
             META("meta_many") ": metadata preprocess.mean: \"1,2,3,4,5\" has 5 values but at "
                               "most 4 are accepted");
}
