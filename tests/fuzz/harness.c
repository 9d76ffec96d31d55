#include "harness.h"

#include "compress.h"
#include "model.h"
#include "slimbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- scratch files (the config and dataset readers take paths) ---- */

static char scratch_dir[256];

static void remove_scratch(void)
{
    static const char *const names[] = {"fuzz.csv", "fuzz-images-idx3-ubyte",
                                        "fuzz-labels-idx1-ubyte", "fuzz_images.npy",
                                        "fuzz_labels.npy", "saved.csv"};
    char p[320];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", scratch_dir, names[i]);
        unlink(p);
    }
    rmdir(scratch_dir);
}

/* A private directory, on tmpfs when there is one: one per process, removed at exit. */
static const char *scratch(void)
{
    if (scratch_dir[0])
        return scratch_dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(scratch_dir, sizeof scratch_dir, "%s/sb-fuzz-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(scratch_dir))
        abort();
    atexit(remove_scratch);
    return scratch_dir;
}

static void scratch_path(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", scratch(), name);
}

static void write_file(const char *path, const uint8_t *data, size_t size, int gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        if (!gz || (size && gzwrite(gz, data, (unsigned)size) != (int)size) || gzclose(gz) != Z_OK)
            abort();
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

/* A failure must say what went wrong and where: the message names the file. */
static void check_error(sb_status s, const sb_error *err, const char *file)
{
    if (s == SB_OK)
        return;
    if (!err->msg[0] || !strstr(err->msg, file)) {
        fprintf(stderr, "harness: status %s with a message that does not name %s: \"%s\"\n",
                sb_status_str(s), file, err->msg);
        abort();
    }
}

/* ---- ONNX ---- */

static void exercise_model(sb_model *m)
{
    int n = sb_model_num_layers(m);
    for (int i = 0; i < n; i++) {
        sb_layer_info info;
        if (sb_model_layer(m, i, &info) != SB_OK)
            abort();
    }
    (void)sb_model_totals_get(m);
    (void)sb_model_size(m);
}

/* Runs small models once on zeros: a model that loads must also run. */
static void run_small(sb_model *m)
{
    sb_plan *p = m->plan1;
    if (!p || p->arena_floats > ((size_t)1 << 20) || sb_model_totals_get(m).macs > (1 << 22))
        return;
    memset(p->arena, 0, p->arena_floats * sizeof *p->arena);
    sb_error err = {0};
    if (sb_plan_run(p, NULL, &err) != SB_OK)
        abort();
}

int sb_fuzz_onnx(const uint8_t *data, size_t size)
{
    static const char name[] = "fuzz.onnx";
    sb_model *m = NULL;
    sb_error err = {0};
    sb_status s = sb_model_load_mem(data, size, name, &m, &err);
    check_error(s, &err, name);
    if (s != SB_OK)
        return 0;
    exercise_model(m);
    run_small(m);
    sb_model_free(m);
    return 0;
}

/* ---- configuration CSV ---- */

static sb_model *csv_model(void)
{
    static sb_model *m;
    if (m)
        return m;
    const char *path = getenv("SB_FUZZ_MODEL");
    sb_error err = {0};
    if (sb_model_load(path ? path : "tests/data/onnx/tiny_ok.onnx", &m, &err) != SB_OK) {
        fprintf(stderr, "harness: %s\n", err.msg);
        abort();
    }
    return m;
}

int sb_fuzz_config_csv(const uint8_t *data, size_t size)
{
    sb_model *m = csv_model();
    char path[320], saved[320];
    scratch_path("fuzz.csv", path, sizeof path);
    write_file(path, data, size, 0);
    sb_config c, again;
    sb_error err = {0};
    sb_status s = sb_config_load_csv(m, path, &c, &err);
    check_error(s, &err, path);
    if (s != SB_OK)
        return 0;
    /* An accepted config survives a save and a load unchanged. */
    scratch_path("saved.csv", saved, sizeof saved);
    if (sb_config_save_csv(m, &c, saved, &err) != SB_OK ||
        sb_config_load_csv(m, saved, &again, &err) != SB_OK) {
        fprintf(stderr, "harness: an accepted config does not round-trip: %s\n", err.msg);
        abort();
    }
    if (!sb_config_equal(&c, &again))
        abort();
    sb_config_free(&again);
    sb_config_free(&c);
    return 0;
}

/* ---- datasets ---- */

static void exercise_dataset(const sb_dataset *d)
{
    sb_shape s = sb_dataset_image_shape(d);
    int n = sb_dataset_count(d), k = n < 3 ? n : 3;
    if (n <= 0 || s.rank != 3)
        abort();
    size_t per = (size_t)(s.dim[0] * s.dim[1] * s.dim[2]);
    if (per > ((size_t)1 << 24)) /* large images: reading them was the test */
        return;
    float *out = malloc(per * (size_t)k * sizeof *out);
    if (!out)
        return;
    sb_preprocess pp = {.scale = 255, .n_mean = 1, .n_std = 1, .std = {1}};
    sb_dataset_fill(d, &pp, n - k, k, out);
    free(out);
    for (int i = 0; i < n && sb_dataset_has_labels(d); i++)
        if (sb_dataset_label(d, i) < 0)
            abort();
}

/* Two 2x2 images, the partner of a fuzzed labels file. */
static const uint8_t idx_images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
                                     1, 2, 3, 4, 5, 6, 7, 8};
static const char npy_images[] = "\x93NUMPY\x01\x00\x76\x00"
                                 "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }"
                                 "                                                       \n"
                                 "\x01\x02\x03\x04\x05\x06\x07\x08";

static int fuzz_dataset(const uint8_t *data, size_t size, const char *images_name,
                        const char *labels_name, const uint8_t *images, size_t images_size)
{
    if (size < 1)
        return 0;
    int labels = data[0] & 1, gzip = data[0] & 2 ? 1 : 0;
    char ipath[320], lpath[320];
    scratch_path(images_name, ipath, sizeof ipath);
    scratch_path(labels_name, lpath, sizeof lpath);
    if (labels) {
        write_file(ipath, images, images_size, 0);
        write_file(lpath, data + 1, size - 1, gzip);
    } else {
        unlink(lpath);
        write_file(ipath, data + 1, size - 1, gzip);
    }
    sb_dataset *d = NULL;
    sb_error err = {0};
    sb_status s = sb_dataset_open(ipath, "test", &d, &err);
    check_error(s, &err, labels ? lpath : ipath);
    if (s != SB_OK)
        return 0;
    exercise_dataset(d);
    sb_dataset_free(d);
    return 0;
}

int sb_fuzz_idx(const uint8_t *data, size_t size)
{
    return fuzz_dataset(data, size, "fuzz-images-idx3-ubyte", "fuzz-labels-idx1-ubyte",
                        idx_images, sizeof idx_images);
}

int sb_fuzz_npy(const uint8_t *data, size_t size)
{
    return fuzz_dataset(data, size, "fuzz_images.npy", "fuzz_labels.npy",
                        (const uint8_t *)npy_images, sizeof npy_images - 1);
}

sb_fuzz_fn sb_fuzz_target(const char *name)
{
    static const struct {
        const char *name;
        sb_fuzz_fn fn;
    } targets[] = {{"onnx", sb_fuzz_onnx},
                   {"config_csv", sb_fuzz_config_csv},
                   {"idx", sb_fuzz_idx},
                   {"npy", sb_fuzz_npy}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (!strcmp(name, targets[i].name))
            return targets[i].fn;
    return NULL;
}
