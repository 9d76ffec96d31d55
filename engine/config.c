/* The Config value: per-layer compression settings, their validation, the CLI's one-off flags,
 * and atomic file writes. Its CSV form is in config_csv.c. */
#include "compress.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const sb_layer_config SB_LAYER_DEFAULT = {.prune = SB_PRUNE_NONE, .wbits = 32};

sb_status sb_config_new(const sb_model *m, sb_config *c, sb_error *err)
{
    memset(c, 0, sizeof *c);
    c->n_layers = sb_model_num_layers(m);
    c->layer = malloc(((size_t)c->n_layers + 1) * sizeof *c->layer);
    if (!c->layer)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_layers; i++)
        c->layer[i] = SB_LAYER_DEFAULT;
    c->calib = SB_CALIB_MINMAX;
    c->percentile = 99.99;
    c->calib_images = 512;
    return SB_OK;
}

sb_status sb_config_copy(const sb_config *src, sb_config *dst, sb_error *err)
{
    *dst = *src;
    dst->layer = malloc(((size_t)src->n_layers + 1) * sizeof *dst->layer);
    if (!dst->layer)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    memcpy(dst->layer, src->layer, (size_t)src->n_layers * sizeof *dst->layer);
    return SB_OK;
}

void sb_config_free(sb_config *c)
{
    free(c->layer);
    c->layer = NULL;
    c->n_layers = 0;
}

static bool layer_equal(const sb_layer_config *a, const sb_layer_config *b)
{
    return a->prune == b->prune && a->ratio == b->ratio && a->wbits == b->wbits &&
           a->gran == b->gran && a->asymmetric == b->asymmetric && a->act8 == b->act8;
}

bool sb_layer_config_is_default(const sb_layer_config *l)
{
    return l->prune == SB_PRUNE_NONE && l->wbits == 32 && !l->act8;
}

bool sb_config_equal(const sb_config *a, const sb_config *b)
{
    if (a->n_layers != b->n_layers || a->global_ratio != b->global_ratio ||
        a->calib != b->calib || a->percentile != b->percentile ||
        a->calib_images != b->calib_images)
        return false;
    for (int i = 0; i < a->n_layers; i++)
        if (!layer_equal(&a->layer[i], &b->layer[i]))
            return false;
    return true;
}

static bool valid_bits(int bits)
{
    return bits == 32 || bits == 8 || bits == 6 || bits == 4 || bits == 2;
}

static sb_status validate_layer(const sb_model *m, int i, const sb_layer_config *l,
                                sb_error *err)
{
    sb_layer_info info;
    sb_model_layer(m, i, &info);
    if ((unsigned)l->prune > SB_PRUNE_GLOBAL || (unsigned)l->gran > SB_GRAN_TENSOR)
        return sb_error_set(err, SB_ERR_ARG, "layer '%s': unknown pruning method or granularity",
                            info.name);
    if (l->prune != SB_PRUNE_NONE && l->prune != SB_PRUNE_GLOBAL &&
        !(l->ratio >= 0 && l->ratio < 1))
        return sb_error_set(err, SB_ERR_ARG, "layer '%s': pruning ratio %g is outside [0, 1)",
                            info.name, l->ratio);
    if (!valid_bits(l->wbits))
        return sb_error_set(err, SB_ERR_ARG,
                            "layer '%s': %d-bit weights are not supported (32, 8, 6, 4 or 2)",
                            info.name, l->wbits);
    if (l->prune == SB_PRUNE_L1) {
        int g = sb_model_layer_group(m, i);
        sb_group_info gi;
        if (g < 0 || sb_model_group(m, g, &gi) || !gi.prunable)
            return sb_error_set(err, SB_ERR_ARG,
                                "layer '%s': its output channels cannot be pruned: %s", info.name,
                                g < 0 ? "they are not part of a channel group" : gi.why_not);
    }
    return SB_OK;
}

sb_status sb_config_validate(const sb_model *m, const sb_config *c, sb_error *err)
{
    if (c->n_layers != sb_model_num_layers(m))
        return sb_error_set(err, SB_ERR_ARG,
                            "the configuration has %d layers but the model has %d", c->n_layers,
                            sb_model_num_layers(m));
    if (!(c->global_ratio >= 0 && c->global_ratio < 1))
        return sb_error_set(err, SB_ERR_ARG, "global pruning ratio %g is outside [0, 1)",
                            c->global_ratio);
    if (c->calib != SB_CALIB_MINMAX && c->calib != SB_CALIB_PERCENTILE)
        return sb_error_set(err, SB_ERR_ARG, "unknown calibration method");
    if (c->calib_images < 1)
        return sb_error_set(err, SB_ERR_ARG, "%d calibration images (expected at least 1)",
                            c->calib_images);
    if (c->calib == SB_CALIB_PERCENTILE && !(c->percentile > 50 && c->percentile <= 100))
        return sb_error_set(err, SB_ERR_ARG, "calibration percentile %g is outside (50, 100]",
                            c->percentile);
    for (int i = 0; i < c->n_layers; i++) {
        sb_status s = validate_layer(m, i, &c->layer[i], err);
        if (s)
            return s;
    }
    return SB_OK;
}

/* ---- CLI flags ---- */

/* Splits "LAYER=VALUE[:opt...]" into its layer and the rest; returns false if malformed. */
static bool split_flag(const char *flag, char *layer, size_t n, const char **rest)
{
    const char *eq = strrchr(flag, '=');
    if (!eq || eq == flag || (size_t)(eq - flag) >= n)
        return false;
    memcpy(layer, flag, (size_t)(eq - flag));
    layer[eq - flag] = 0;
    *rest = eq + 1;
    return true;
}

static bool parse_ratio(const char *s, double *out, const char **end)
{
    char *e;
    errno = 0;
    *out = strtod(s, &e);
    *end = e;
    return e != s && errno == 0 && *out >= 0 && *out < 1;
}

static sb_status resolve_layer(const sb_model *m, const char *name, const char *flag, int *out,
                               sb_error *err)
{
    *out = sb_model_find_layer(m, name);
    if (*out < 0)
        return sb_error_set(err, SB_ERR_ARG,
                            "%s: no layer '%s' in the model (see `slimbench inspect` for names)",
                            flag, name);
    return SB_OK;
}

static bool l1_prunable(const sb_model *m, int layer)
{
    sb_group_info gi;
    int g = sb_model_layer_group(m, layer);
    return g >= 0 && sb_model_group(m, g, &gi) == SB_OK && gi.prunable;
}

sb_status sb_config_apply_prune_flag(const sb_model *m, sb_config *c, const char *flag,
                                     sb_error *err)
{
    char layer[512];
    const char *rest, *end;
    double ratio;
    if (!split_flag(flag, layer, sizeof layer, &rest) || !parse_ratio(rest, &ratio, &end) ||
        (*end && *end != ':'))
        return sb_error_set(err, SB_ERR_ARG,
                            "--prune %s: expected LAYER=RATIO[:magnitude|l1] with RATIO in "
                            "[0, 1), e.g. conv1=0.5:l1",
                            flag);
    const char *method = *end ? end + 1 : "magnitude";
    bool l1 = strcmp(method, "l1") == 0;
    if (!l1 && strcmp(method, "magnitude") != 0)
        return sb_error_set(err, SB_ERR_ARG,
                            "--prune %s: unknown method '%s' (magnitude or l1)", flag, method);
    if (strcmp(layer, "global") == 0) {
        if (l1)
            return sb_error_set(err, SB_ERR_ARG,
                                "--prune %s: global pruning is by magnitude only", flag);
        c->global_ratio = ratio;
        for (int i = 0; i < c->n_layers; i++)
            c->layer[i].prune = SB_PRUNE_GLOBAL, c->layer[i].ratio = 0;
        return SB_OK;
    }
    bool all = strcmp(layer, "all") == 0;
    int only = -1;
    sb_status s = all ? SB_OK : resolve_layer(m, layer, "--prune", &only, err);
    for (int i = 0; !s && i < c->n_layers; i++) {
        if ((!all && i != only) || (all && l1 && !l1_prunable(m, i)))
            continue; /* `all` with l1 skips layers whose channels cannot go (the classifier) */
        c->layer[i].prune = ratio == 0 ? SB_PRUNE_NONE : l1 ? SB_PRUNE_L1 : SB_PRUNE_MAGNITUDE;
        c->layer[i].ratio = ratio;
        s = validate_layer(m, i, &c->layer[i], err);
    }
    return s;
}

/* Applies the ":channel|tensor", ":sym|asym" and ":a8" options to l. */
static bool quant_options(const char *opts, sb_layer_config *l)
{
    while (*opts == ':') {
        opts++;
        size_t n = strcspn(opts, ":");
        if (n == 7 && !strncmp(opts, "channel", n))
            l->gran = SB_GRAN_CHANNEL;
        else if (n == 6 && !strncmp(opts, "tensor", n))
            l->gran = SB_GRAN_TENSOR;
        else if (n == 3 && !strncmp(opts, "sym", n))
            l->asymmetric = false;
        else if (n == 4 && !strncmp(opts, "asym", n))
            l->asymmetric = true;
        else if (n == 2 && !strncmp(opts, "a8", n))
            l->act8 = true;
        else
            return false;
        opts += n;
    }
    return *opts == 0;
}

sb_status sb_config_apply_quant_flag(const sb_model *m, sb_config *c, const char *flag,
                                     sb_error *err)
{
    char layer[512], *end;
    const char *rest;
    if (!split_flag(flag, layer, sizeof layer, &rest))
        return sb_error_set(err, SB_ERR_ARG,
                            "--quant %s: expected LAYER=BITS[:channel|tensor][:sym|asym][:a8], "
                            "e.g. all=8:channel",
                            flag);
    long bits = strtol(rest, &end, 10);
    sb_layer_config proto = SB_LAYER_DEFAULT;
    proto.wbits = (int)bits;
    if (end == rest || !valid_bits((int)bits) || !quant_options(end, &proto))
        return sb_error_set(err, SB_ERR_ARG,
                            "--quant %s: expected LAYER=BITS[:channel|tensor][:sym|asym][:a8] "
                            "with BITS 8, 6, 4 or 2 (32 for float)",
                            flag);
    bool all = strcmp(layer, "all") == 0;
    int only = -1;
    sb_status s = all ? SB_OK : resolve_layer(m, layer, "--quant", &only, err);
    for (int i = 0; !s && i < c->n_layers; i++) {
        if (!all && i != only)
            continue;
        c->layer[i].wbits = proto.wbits;
        c->layer[i].gran = proto.gran;
        c->layer[i].asymmetric = proto.asymmetric;
        c->layer[i].act8 = proto.act8;
    }
    return s;
}

/* ---- atomic writes ---- */

static sb_status write_all(int fd, const char *path, const void *data, size_t len, sb_error *err)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) /* EFBIG (a file size limit), ENOSPC, EDQUOT, EIO... */
            return sb_error_set(err, SB_ERR_IO, "%s: cannot write: %s", path,
                                w < 0 ? strerror(errno) : "no space left");
        p += w, len -= (size_t)w;
    }
    return SB_OK;
}

/* Makes the rename durable: the directory entry is on disk once this returns. */
static sb_status sync_dir(const char *path, sb_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    sb_status s = SB_OK;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) /* EINVAL: no sync for directories here */
        s = sb_error_set(err, SB_ERR_IO, "%s: written, but its directory %s cannot be synced: %s",
                         path, dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return s;
}

/* A uniquely named temporary file beside path, fsync'd, then renamed over path: a crash or a
 * failed write (full disk, a file size limit) leaves the old file whole and no temporary. */
sb_status sb_write_file_atomic(const char *path, const void *data, size_t len, sb_error *err)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        sb_status s = sb_error_set(err, SB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    sb_status s = write_all(fd, path, data, len, err);
    if (!s && fchmod(fd, 0644) != 0)
        s = sb_error_set(err, SB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (!s && fsync(fd) != 0)
        s = sb_error_set(err, SB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (close(fd) != 0 && !s)
        s = sb_error_set(err, SB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = sb_error_set(err, SB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (s)
        unlink(tmp);
    else
        s = sync_dir(path, err);
    free(tmp);
    return s;
}
