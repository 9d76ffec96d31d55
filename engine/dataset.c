/* Datasets: Fashion-MNIST-style IDX files (plain or gzip) and NumPy .npy arrays, loaded whole
 * into memory (uint8 pixels stay uint8) or, for evaluation sets over a size bound, streamed from
 * the file a batch at a time; and the ToTensor+Normalize preprocessing applied when a batch is
 * filled.
 *
 * Layouts: IDX images are N,H,W (3-D, one channel) or N,C,H,W (4-D); .npy images are (N,H,W)
 * or (N,C,H,W), uint8 or float32. Float images are taken as already scaled: preprocessing skips
 * the divide-by-scale step and applies only mean/std. Labels are 1-D class indices. Every header
 * is checked against the bytes the file really holds before anything in it is trusted.
 *
 * sb_dataset_fill cannot report errors: the caller checks that pp->n_mean and pp->n_std are 1 or
 * the dataset's channel count (sb_eval does, with a message naming the model). */
#include "slimbench.h"
#include "par.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum {
    MAX_CHANNELS = 4,         /* sb_preprocess holds at most 4 means and stds */
    NPY_MAX_HEADER = 1 << 16, /* numpy itself refuses headers over 10000 bytes by default */
    FIRST_ALLOC = 1 << 24,    /* payload buffers grow from here, so a lying header costs little */
    PAR_MIN_VALUES = 1 << 15, /* sb_dataset_fill goes parallel from this many output values */
};

/* Cap on one array: guards against corrupt headers, far above any dataset this tool evaluates. */
static const uint64_t max_array_bytes = (uint64_t)8 << 30;

typedef struct image_stream image_stream;

struct sb_dataset {
    int n;                /* images */
    int64_t c, h, w;      /* per-image shape, stored NCHW */
    bool is_float;        /* pixels are float32, already scaled; else uint8 */
    void *pixels;         /* n*c*h*w values, or NULL when streamed */
    image_stream *stream; /* the images file, when the pixels are not in memory */
    int *labels;          /* n class indices, or NULL when the set has no labels */
};

/* ---- arrays as read from a file ---- */

typedef enum { EL_U8, EL_I32, EL_I64, EL_F32, EL_UNKNOWN } elem_type;
typedef enum { KIND_IMAGES, KIND_LABELS } array_kind;

static const int elem_size[] = {[EL_U8] = 1, [EL_I32] = 4, [EL_I64] = 8, [EL_F32] = 4};

typedef struct array {
    const char *path; /* file, for messages */
    elem_type type;
    char descr[16]; /* NumPy dtype as written ("" for IDX), for messages */
    int rank;
    uint64_t dim[SB_MAX_RANK];
    uint64_t bytes; /* payload size the header declares (set by check_array) */
    char what[160]; /* "10000 images of 28x28", for messages */
    void *data;     /* payload, owned */
} array;

static const char *dims_str(const uint64_t *dim, int rank, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < rank && used < n; i++) {
        int k = snprintf(buf + used, n - used, "%s%llu", i ? "x" : "", (unsigned long long)dim[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return buf;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- reading through zlib (gzread passes plain files through unchanged) ---- */

typedef struct reader {
    gzFile gz;
    const char *path;
    uint64_t pos; /* decompressed bytes consumed so far */
} reader;

static sb_status reader_open(reader *r, const char *path, sb_error *err)
{
    r->path = path;
    r->pos = 0;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz)
        return sb_error_set(err, SB_ERR_IO, "%s: cannot open: %s; check the path and permissions",
                            path, errno ? strerror(errno) : "out of memory");
    gzbuffer(r->gz, 1 << 17);
    return SB_OK;
}

static sb_status read_error(const reader *r, sb_error *err)
{
    int code = Z_OK;
    const char *msg = gzerror(r->gz, &code);
    size_t n = strlen(r->path);
    if (!strncmp(msg, r->path, n) && !strncmp(msg + n, ": ", 2)) /* zlib prefixes the path */
        msg += n + 2;
    if (code == Z_ERRNO)
        return sb_error_set(err, SB_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
    if (code == Z_MEM_ERROR)
        return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory while decompressing", r->path);
    return sb_error_set(err, SB_ERR_FORMAT,
                        "%s: cannot decompress: %s; the gzip file is damaged, download it again",
                        r->path, msg);
}

/* Reads up to n bytes into buf; *got is short only at the end of the data. */
static sb_status reader_read(reader *r, void *buf, size_t n, size_t *got, sb_error *err)
{
    *got = 0;
    while (*got < n) {
        size_t left = n - *got;
        unsigned chunk = left > (1u << 30) ? 1u << 30 : (unsigned)left;
        int k = gzread(r->gz, (char *)buf + *got, chunk);
        if (k < 0)
            return read_error(r, err);
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    r->pos += *got;
    return SB_OK;
}

/* True when the data ended because the gzip stream is cut short (not at a clean end). */
static bool reader_cut_short(const reader *r)
{
    int code = Z_OK;
    gzerror(r->gz, &code);
    return code == Z_BUF_ERROR;
}

static sb_status count_rest(reader *r, uint64_t *extra, sb_error *err)
{
    unsigned char scratch[16384];
    size_t got;
    *extra = 0;
    do {
        sb_status s = reader_read(r, scratch, sizeof scratch, &got, err);
        if (s != SB_OK)
            return s;
        *extra += got;
    } while (got == sizeof scratch);
    return SB_OK;
}

static sb_status truncated(const reader *r, const array *a, uint64_t header, uint64_t got,
                           sb_error *err)
{
    return sb_error_set(err, SB_ERR_FORMAT,
                        "%s: truncated: header declares %s (%llu bytes) but the file holds %llu "
                        "after its %llu-byte header%s; download or export it again",
                        r->path, a->what, (unsigned long long)a->bytes, (unsigned long long)got,
                        (unsigned long long)header,
                        reader_cut_short(r) ? " (the gzip stream ends early)" : "");
}

/* After the payload: nothing may follow, and a gzip stream must end with its checksum. */
static sb_status check_end(reader *r, const array *a, sb_error *err)
{
    uint64_t extra;
    sb_status s = count_rest(r, &extra, err);
    if (s != SB_OK)
        return s;
    if (extra)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: header declares %s (%llu bytes) but %llu more bytes follow them; "
                            "the file is corrupt or its header is wrong",
                            r->path, a->what, (unsigned long long)a->bytes,
                            (unsigned long long)extra);
    if (reader_cut_short(r))
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: the gzip stream ends before its checksum; the file is "
                            "incomplete, download it again",
                            r->path);
    return SB_OK;
}

static sb_status grow(unsigned char **buf, size_t *cap, size_t want)
{
    size_t n = *cap > want / 2 ? want : *cap * 2;
    unsigned char *p = realloc(*buf, n);
    if (!p)
        return SB_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return SB_OK;
}

/* Reads exactly a->bytes into a->data, growing the buffer as data arrives. */
static sb_status read_payload(reader *r, array *a, sb_error *err)
{
    uint64_t header = r->pos;
    size_t want = (size_t)a->bytes, cap = want < FIRST_ALLOC ? want : FIRST_ALLOC, got = 0, k;
    unsigned char *buf = a->bytes <= SIZE_MAX ? malloc(cap) : NULL;
    sb_status s = buf ? SB_OK : SB_ERR_NOMEM;
    while (s == SB_OK && got < want) {
        if (got == cap && (s = grow(&buf, &cap, want)) != SB_OK)
            break;
        size_t ask = cap - got;
        s = reader_read(r, buf + got, ask, &k, err);
        got += k;
        if (k < ask) /* end of the data */
            break;
    }
    if (s == SB_ERR_NOMEM)
        sb_error_set(err, s, "%s: out of memory loading %s (%llu bytes)", r->path, a->what,
                     (unsigned long long)a->bytes);
    if (s == SB_OK && got < want)
        s = truncated(r, a, header, got, err);
    if (s == SB_OK)
        s = check_end(r, a, err);
    if (s != SB_OK) {
        free(buf);
        return s;
    }
    a->data = buf;
    return SB_OK;
}

/* ---- IDX headers: 00 00 type ndim, then ndim big-endian uint32 dimensions ---- */

static const char *idx_type_name(unsigned code)
{
    switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return NULL;
    }
}

static sb_status idx_header(reader *r, array *a, sb_error *err)
{
    unsigned char m[4], d[4 * SB_MAX_RANK];
    size_t got;
    sb_status s = reader_read(r, m, sizeof m, &got, err);
    if (s != SB_OK)
        return s;
    if (got < sizeof m)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: truncated: %zu bytes, too short for an IDX header; download or "
                            "export it again",
                            r->path, got);
    const char *type = idx_type_name(m[2]);
    if (m[0] || m[1] || !type || m[3] == 0 || m[3] > SB_MAX_RANK)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: not an IDX file: it starts with bytes %02x %02x %02x %02x where "
                            "IDX has 00 00, a type code (08 for unsigned bytes) and a dimension "
                            "count; pass MNIST-style IDX files or NumPy .npy arrays",
                            r->path, m[0], m[1], m[2], m[3]);
    if (m[2] != 0x08)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "%s: IDX element type 0x%02x (%s) is not supported, only unsigned "
                            "bytes (0x08) are; convert the data to uint8 or save it as a float32 "
                            ".npy array",
                            r->path, m[2], type);
    a->type = EL_U8;
    a->rank = m[3];
    if ((s = reader_read(r, d, 4 * (size_t)a->rank, &got, err)) != SB_OK)
        return s;
    if (got < 4 * (size_t)a->rank)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: truncated: the IDX header declares %d dimensions but the file "
                            "ends after %llu bytes; download or export it again",
                            r->path, a->rank, (unsigned long long)r->pos);
    for (int i = 0; i < a->rank; i++)
        a->dim[i] = be32(d + 4 * i);
    return SB_OK;
}

/* ---- NPY headers: \x93NUMPY, version, length, then a Python dict literal ---- */

typedef struct scan {
    const char *begin, *p, *end;
    char why[96]; /* first problem found */
} scan;

typedef struct npy_dict {
    char descr[16];
    bool fortran;
    bool has_descr, has_fortran, has_shape;
} npy_dict;

static bool scan_fail(scan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool scan_fail(scan *s, const char *fmt, ...)
{
    if (!s->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->why, sizeof s->why, fmt, ap);
        va_end(ap);
    }
    return false;
}

static void scan_space(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Skips space, then consumes c if it comes next. */
static bool scan_char(scan *s, char c)
{
    scan_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static bool scan_word(scan *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool scan_quoted(scan *s, char *out, size_t n)
{
    scan_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return scan_fail(s, "expected a quoted string");
    char q = *s->p++;
    const char *start = s->p;
    while (s->p < s->end && *s->p != q)
        s->p++;
    if (s->p >= s->end)
        return scan_fail(s, "unterminated string");
    size_t len = (size_t)(s->p - start);
    if (len >= n)
        return scan_fail(s, "string '%.20s...' is too long", start);
    memcpy(out, start, len);
    out[len] = 0;
    s->p++;
    return true;
}

static bool scan_bool(scan *s, bool *v)
{
    scan_space(s);
    if (scan_word(s, "True"))
        *v = true;
    else if (scan_word(s, "False"))
        *v = false;
    else
        return scan_fail(s, "expected True or False");
    return true;
}

static bool scan_dim(scan *s, uint64_t *v)
{
    scan_space(s);
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return scan_fail(s, "expected a dimension (a non-negative integer)");
    for (*v = 0; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
        unsigned digit = (unsigned)(*s->p - '0');
        if (*v > (UINT64_MAX - digit) / 10)
            return scan_fail(s, "dimension too large");
        *v = *v * 10 + digit;
    }
    if (s->p < s->end && *s->p == 'L') /* Python 2 longs, in files written by old numpy */
        s->p++;
    return true;
}

static bool scan_shape(scan *s, array *a)
{
    if (!scan_char(s, '('))
        return scan_fail(s, "expected '(' starting the shape tuple");
    for (a->rank = 0; !scan_char(s, ')');) {
        if (a->rank == SB_MAX_RANK)
            return scan_fail(s, "the shape has more than %d dimensions", SB_MAX_RANK);
        if (!scan_dim(s, &a->dim[a->rank++]))
            return false;
        if (scan_char(s, ')'))
            break;
        if (!scan_char(s, ','))
            return scan_fail(s, "expected ',' or ')' in the shape tuple");
    }
    return true;
}

static bool scan_seen(scan *s, bool *seen, const char *key)
{
    if (*seen)
        return scan_fail(s, "key '%s' appears twice", key);
    *seen = true;
    return true;
}

static bool scan_entry(scan *s, npy_dict *d, array *a)
{
    char key[32];
    if (!scan_quoted(s, key, sizeof key))
        return false;
    if (!scan_char(s, ':'))
        return scan_fail(s, "expected ':' after '%s'", key);
    if (!strcmp(key, "descr"))
        return scan_seen(s, &d->has_descr, key) && scan_quoted(s, d->descr, sizeof d->descr);
    if (!strcmp(key, "fortran_order"))
        return scan_seen(s, &d->has_fortran, key) && scan_bool(s, &d->fortran);
    if (!strcmp(key, "shape"))
        return scan_seen(s, &d->has_shape, key) && scan_shape(s, a);
    return scan_fail(s, "unknown key '%s'", key);
}

static bool scan_dict(scan *s, npy_dict *d, array *a)
{
    if (!scan_char(s, '{'))
        return scan_fail(s, "expected '{'");
    while (!scan_char(s, '}')) {
        if (!scan_entry(s, d, a))
            return false;
        if (scan_char(s, '}'))
            break;
        if (!scan_char(s, ','))
            return scan_fail(s, "expected ',' or '}'");
    }
    scan_space(s);
    if (s->p != s->end)
        return scan_fail(s, "unexpected text after '}'");
    if (!d->has_descr || !d->has_fortran || !d->has_shape)
        return scan_fail(s, "missing key '%s'",
                         !d->has_descr     ? "descr"
                         : !d->has_fortran ? "fortran_order"
                                           : "shape");
    return true;
}

/* The header text for a message: printable, without numpy's space padding, at most n-1 chars. */
static const char *header_excerpt(const char *text, size_t len, char *buf, size_t n)
{
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\n'))
        len--;
    size_t k = len < n - 1 ? len : n - 1;
    for (size_t i = 0; i < k; i++)
        buf[i] = text[i] >= 32 && text[i] < 127 ? text[i] : '?';
    buf[k] = 0;
    return buf;
}

static const struct {
    const char *descr;
    elem_type type;
} npy_types[] = {
    {"|u1", EL_U8}, {"<u1", EL_U8}, {"<i4", EL_I32}, {"<i8", EL_I64}, {"<f4", EL_F32},
};

static elem_type npy_type(const char *descr)
{
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strcmp(descr, npy_types[i].descr))
            return npy_types[i].type;
    return EL_UNKNOWN;
}

static sb_status npy_parse(const char *path, const char *text, size_t len, array *a, sb_error *err)
{
    scan s = {.begin = text, .p = text, .end = text + len};
    npy_dict d = {0};
    if (!scan_dict(&s, &d, a)) {
        char excerpt[200];
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: malformed NumPy header at character %zu: %s, in \"%s\"; save the "
                            "array with numpy.save",
                            path, (size_t)(s.p - s.begin) + 1, s.why,
                            header_excerpt(text, len, excerpt, sizeof excerpt));
    }
    if (d.fortran && a->rank > 1)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "%s: the array is stored in Fortran (column-major) order, which is "
                            "not supported; save it with numpy.save(path, "
                            "numpy.ascontiguousarray(a))",
                            path);
    memcpy(a->descr, d.descr, sizeof a->descr);
    a->type = npy_type(d.descr);
    return SB_OK;
}

static sb_status npy_header(reader *r, array *a, sb_error *err)
{
    unsigned char pre[12];
    size_t got;
    sb_status s = reader_read(r, pre, 8, &got, err);
    if (s != SB_OK)
        return s;
    if (got < 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: not a NumPy .npy file: it does not start with the \\x93NUMPY "
                            "magic; save arrays with numpy.save",
                            r->path);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "%s: NumPy file format version %d.%d is not supported (1.0, 2.0 and "
                            "3.0 are); save the array with numpy.save",
                            r->path, major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if ((s = reader_read(r, pre + 8, lenbytes, &got, err)) != SB_OK)
        return s;
    uint32_t hlen = major == 1 ? (uint32_t)(pre[8] | pre[9] << 8) : le32(pre + 8);
    if (got < lenbytes || hlen > NPY_MAX_HEADER)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: NumPy header length is %s; the file is corrupt or incomplete",
                            r->path, got < lenbytes ? "missing" : "implausible (over 64 KiB)");
    char *text = malloc(hlen + 1);
    if (!text)
        return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory reading the header", r->path);
    if ((s = reader_read(r, text, hlen, &got, err)) == SB_OK && got < hlen)
        s = sb_error_set(err, SB_ERR_FORMAT,
                         "%s: truncated: the NumPy header is %u bytes long but the file ends "
                         "after %llu bytes; download or export it again",
                         r->path, (unsigned)hlen, (unsigned long long)r->pos);
    if (s == SB_OK)
        s = npy_parse(r->path, text, hlen, a, err);
    free(text);
    return s;
}

/* ---- checks shared by both formats ---- */

static sb_status check_type(const array *a, array_kind kind, sb_error *err)
{
    if (kind == KIND_IMAGES && (a->type == EL_U8 || a->type == EL_F32))
        return SB_OK;
    if (kind == KIND_LABELS && a->type != EL_F32 && a->type != EL_UNKNOWN)
        return SB_OK;
    if (kind == KIND_IMAGES)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "%s: dtype '%s' is not supported for images; use uint8 ('|u1') or "
                            "float32 ('<f4'), e.g. numpy.save(path, a.astype(numpy.float32))",
                            a->path, a->descr);
    return sb_error_set(err, SB_ERR_UNSUPPORTED,
                        "%s: dtype '%s' is not supported for labels; use uint8 ('|u1'), int32 "
                        "('<i4') or int64 ('<i8')",
                        a->path, a->descr);
}

static sb_status check_rank(const array *a, array_kind kind, sb_error *err)
{
    char shape[160];
    bool ok = kind == KIND_IMAGES ? a->rank == 3 || a->rank == 4 : a->rank == 1;
    if (ok)
        return SB_OK;
    return sb_error_set(err, SB_ERR_SHAPE, "%s: holds a %d-D array (%s) but %s", a->path, a->rank,
                        dims_str(a->dim, a->rank, shape, sizeof shape),
                        kind == KIND_IMAGES ? "images must be 3-D (N,H,W) or 4-D (N,C,H,W)"
                                            : "labels must be 1-D (N)");
}

/* Payload size with checked multiplication: false when it would pass max_array_bytes. */
static bool checked_bytes(const array *a, uint64_t *out)
{
    uint64_t n = (uint64_t)elem_size[a->type];
    for (int i = 0; i < a->rank; i++) {
        if (n > max_array_bytes / a->dim[i])
            return false;
        n *= a->dim[i];
    }
    *out = n;
    return true;
}

static sb_status check_size(array *a, array_kind kind, sb_error *err)
{
    char shape[160];
    dims_str(a->dim, a->rank, shape, sizeof shape);
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] == 0)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "%s: the header declares shape %s, which holds no data; the file "
                                "is empty or its header is corrupt",
                                a->path, shape);
    if (!checked_bytes(a, &a->bytes))
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: the header declares shape %s, more than the %llu GiB a dataset "
                            "array may hold; the header is corrupt or this is not a dataset file",
                            a->path, shape, (unsigned long long)(max_array_bytes >> 30));
    if (a->dim[0] > INT_MAX)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: the header declares %llu %s; at most %d are supported", a->path,
                            (unsigned long long)a->dim[0],
                            kind == KIND_IMAGES ? "images" : "labels", INT_MAX);
    if (kind == KIND_IMAGES && a->rank == 4 && a->dim[1] > MAX_CHANNELS)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "%s: images of shape %s have %llu channels; at most %d are supported. "
                            "Images must be N,C,H,W: convert channels-last arrays with "
                            "numpy.transpose(a, (0, 3, 1, 2))",
                            a->path, shape, (unsigned long long)a->dim[1], MAX_CHANNELS);
    return SB_OK;
}

static sb_status check_array(array *a, array_kind kind, sb_error *err)
{
    sb_status s = check_type(a, kind, err);
    if (s == SB_OK)
        s = check_rank(a, kind, err);
    if (s == SB_OK)
        s = check_size(a, kind, err);
    if (s != SB_OK)
        return s;
    char shape[160];
    if (kind == KIND_IMAGES)
        snprintf(a->what, sizeof a->what, "%llu images of %s", (unsigned long long)a->dim[0],
                 dims_str(a->dim + 1, a->rank - 1, shape, sizeof shape));
    else
        snprintf(a->what, sizeof a->what, "%llu labels", (unsigned long long)a->dim[0]);
    return SB_OK;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static bool is_npy(const char *path)
{
    return has_suffix(path, ".npy") || has_suffix(path, ".npy.gz");
}

/* Opens one file and checks its header; r is left at the payload (closed on failure). For
 * labels, images/n_images give the count to match. */
static sb_status open_array(const char *path, array_kind kind, const char *images, int n_images,
                            array *a, reader *r, sb_error *err)
{
    memset(a, 0, sizeof *a);
    a->path = path;
    sb_status s = reader_open(r, path, err);
    if (s != SB_OK)
        return s;
    s = is_npy(path) ? npy_header(r, a, err) : idx_header(r, a, err);
    if (s == SB_OK)
        s = check_array(a, kind, err);
    if (s == SB_OK && images && a->dim[0] != (uint64_t)n_images)
        s = sb_error_set(err, SB_ERR_SHAPE,
                         "%s: holds %llu labels but %s holds %d images; images and labels must "
                         "come from the same split",
                         path, (unsigned long long)a->dim[0], images, n_images);
    if (s != SB_OK)
        gzclose(r->gz);
    return s;
}

/* Reads header and payload of one file. */
static sb_status load_array(const char *path, array_kind kind, const char *images, int n_images,
                            array *a, sb_error *err)
{
    reader r;
    sb_status s = open_array(path, kind, images, n_images, a, &r, err);
    if (s != SB_OK)
        return s;
    s = read_payload(&r, a, err);
    gzclose(r.gz);
    return s;
}

/* ---- images and labels ---- */

static const char *nonfinite_name(float v)
{
    return isnan(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity";
}

/* Little-endian float32 to host floats, in place; every value must be finite. The data holds
 * whole images from image `first` of the file on. */
static sb_status decode_floats(const char *path, void *data, uint64_t bytes, uint64_t first,
                               int64_t chw, int64_t plane, int64_t w, sb_error *err)
{
    const unsigned char *p = data;
    float *f = data;
    for (uint64_t i = 0; i < bytes / 4; i++) {
        uint32_t u = le32(p + 4 * i);
        float v;
        memcpy(&v, &u, sizeof v);
        if (!isfinite(v)) {
            int64_t k = (int64_t)i % chw;
            return sb_error_set(err, SB_ERR_FORMAT,
                                "%s: image %llu holds %s at channel %lld, row %lld, column %lld; "
                                "float images must be finite (clean them with numpy.nan_to_num)",
                                path, (unsigned long long)(first + i / (uint64_t)chw),
                                nonfinite_name(v), (long long)(k / plane), (long long)(k % plane / w),
                                (long long)(k % w));
        }
        f[i] = v;
    }
    return SB_OK;
}

/* ---- streamed images: read a batch at a time ---- */

static char *str_dup(const char *s);

struct image_stream {
    reader r;           /* the images file (gzread passes plain files through) */
    char *path;         /* owned copy for r.path */
    uint64_t offset;    /* where the payload starts in the (decompressed) data */
    size_t image_bytes; /* bytes of one image in the file */
    pthread_mutex_t mu; /* r and buf are shared by every reader of the dataset */
    unsigned char *buf; /* one batch of raw pixels */
    size_t cap;
};

static void stream_free(image_stream *st)
{
    if (!st)
        return;
    if (st->r.gz)
        gzclose(st->r.gz);
    pthread_mutex_destroy(&st->mu);
    free(st->buf);
    free(st->path);
    free(st);
}

/* The payload must be exactly as long as the header says: plain files by their size, gzip by
 * one decompressing pass (bounded memory) that also checks the stream's end. */
static sb_status stream_check_length(reader *r, const array *a, sb_error *err)
{
    uint64_t header = r->pos, got;
    struct stat st;
    sb_status s = SB_OK;
    if (gzdirect(r->gz) && stat(r->path, &st) == 0) {
        got = (uint64_t)st.st_size > header ? (uint64_t)st.st_size - header : 0;
    } else {
        if ((s = count_rest(r, &got, err)) != SB_OK)
            return s;
        if (got == a->bytes && reader_cut_short(r))
            return sb_error_set(err, SB_ERR_FORMAT,
                                "%s: the gzip stream ends before its checksum; the file is "
                                "incomplete, download it again",
                                r->path);
    }
    if (got < a->bytes)
        return truncated(r, a, header, got, err);
    if (got > a->bytes)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: header declares %s (%llu bytes) but %llu more bytes follow them; "
                            "the file is corrupt or its header is wrong",
                            r->path, a->what, (unsigned long long)a->bytes,
                            (unsigned long long)(got - a->bytes));
    return SB_OK;
}

/* Takes over the open reader r (at the payload of a checked array) as d's image source. */
static sb_status stream_open(sb_dataset *d, const array *a, reader *r, sb_error *err)
{
    image_stream *st = calloc(1, sizeof *st);
    char *path = str_dup(r->path);
    if (!st || !path) {
        free(st);
        free(path);
        gzclose(r->gz);
        return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory", r->path);
    }
    st->r = *r;
    st->r.path = st->path = path;
    st->offset = r->pos;
    st->image_bytes = (size_t)(a->bytes / a->dim[0]);
    pthread_mutex_init(&st->mu, NULL);
    d->stream = st;
    return stream_check_length(&st->r, a, err);
}

/* Reads the raw pixels of images [start, start+count) into st->buf. Caller holds st->mu. */
static sb_status stream_fetch(image_stream *st, int start, int count, sb_error *err)
{
    size_t want = (size_t)count * st->image_bytes;
    if (want > st->cap) {
        unsigned char *p = realloc(st->buf, want);
        if (!p)
            return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory reading %d images",
                                st->path, count);
        st->buf = p;
        st->cap = want;
    }
    uint64_t at = st->offset + (uint64_t)start * st->image_bytes;
    if (st->r.pos != at) { /* gzip seeks backwards by decompressing again from the start */
        if (gzseek(st->r.gz, (z_off_t)at, SEEK_SET) != (z_off_t)at)
            return read_error(&st->r, err);
        st->r.pos = at;
    }
    size_t got;
    sb_status s = reader_read(&st->r, st->buf, want, &got, err);
    if (s == SB_OK && got < want)
        s = sb_error_set(err, SB_ERR_IO,
                         "%s: ends early at image %llu; the file changed after it was opened",
                         st->path, (unsigned long long)(start + got / st->image_bytes));
    return s;
}

/* Images over max_resident bytes stay in the file (see image_stream). */
static sb_status load_images(sb_dataset *d, const char *path, size_t max_resident, sb_error *err)
{
    array a;
    reader r;
    sb_status s = open_array(path, KIND_IMAGES, NULL, 0, &a, &r, err);
    if (s != SB_OK)
        return s;
    d->n = (int)a.dim[0];
    d->c = a.rank == 4 ? (int64_t)a.dim[1] : 1;
    d->h = (int64_t)a.dim[a.rank - 2];
    d->w = (int64_t)a.dim[a.rank - 1];
    d->is_float = a.type == EL_F32;
    if (a.bytes > max_resident)
        return stream_open(d, &a, &r, err);
    s = read_payload(&r, &a, err);
    gzclose(r.gz);
    if (s != SB_OK)
        return s;
    d->pixels = a.data;
    if (d->is_float)
        return decode_floats(path, a.data, a.bytes, 0, d->c * d->h * d->w, d->h * d->w, d->w, err);
    return SB_OK;
}

static int64_t label_value(const unsigned char *p, elem_type t)
{
    int32_t v32;
    int64_t v64;
    uint32_t u32;
    uint64_t u64;
    switch (t) {
    case EL_U8: return p[0];
    case EL_I32:
        u32 = le32(p);
        memcpy(&v32, &u32, sizeof v32);
        return v32;
    case EL_I64:
        u64 = le64(p);
        memcpy(&v64, &u64, sizeof v64);
        return v64;
    default: return -1;
    }
}

static sb_status load_labels(sb_dataset *d, const char *path, const char *images, sb_error *err)
{
    array a;
    sb_status s = load_array(path, KIND_LABELS, images, d->n, &a, err);
    if (s != SB_OK)
        return s;
    d->labels = malloc((size_t)d->n * sizeof *d->labels);
    if (!d->labels)
        s = sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory for %d labels", path, d->n);
    const unsigned char *p = a.data;
    for (int i = 0; s == SB_OK && i < d->n; i++) {
        int64_t v = label_value(p + (size_t)i * (size_t)elem_size[a.type], a.type);
        if (v < 0 || v > INT_MAX)
            s = sb_error_set(err, SB_ERR_FORMAT,
                             "%s: label %d is %lld; labels must be class indices from 0 to %d",
                             path, i, (long long)v, INT_MAX);
        else
            d->labels[i] = (int)v;
    }
    free(a.data);
    return s;
}

/* ---- finding the files ---- */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    const char *sep = n && dir[n - 1] == '/' ? "" : "/";
    char *p = malloc(n + strlen(sep) + strlen(name) + 1);
    if (p)
        sprintf(p, "%s%s%s", dir, sep, name);
    return p;
}

static sb_status find_images(const char *dir, const char *split, char **images, sb_error *err)
{
    static const char *const candidates[2][3] = {
        {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "test_images.npy"},
        {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train_images.npy"},
    };
    const char *const *names = candidates[strcmp(split, "test") == 0 ? 0 : 1];
    for (int i = 0; i < 3; i++) {
        char *p = path_join(dir, names[i]);
        if (!p)
            return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory", dir);
        if (is_file(p)) {
            *images = p;
            return SB_OK;
        }
        free(p);
    }
    return sb_error_set(err, SB_ERR_IO,
                        "%s: no %s images found: looked for %s, %s and %s; pass the directory "
                        "holding the dataset or the images file itself",
                        dir, split, names[0], names[1], names[2]);
}

/* Last occurrence of needle in s, or NULL. */
static char *last_match(char *s, const char *needle)
{
    char *hit = NULL;
    for (char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        hit = p;
    return hit;
}

/* The labels file beside IMAGES: "images" becomes "labels" in the file name and "-idx3-" or
 * "-idx4-" becomes "-idx1-", with or without ".gz". *labels is NULL when there is none. */
static sb_status find_labels(const char *images, char **labels, sb_error *err)
{
    *labels = NULL;
    size_t n = strlen(images);
    const char *slash = strrchr(images, '/');
    size_t base = slash ? (size_t)(slash - images) + 1 : 0;
    char *p = malloc(n + 4);
    if (!p)
        return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory", images);
    memcpy(p, images, n + 1);
    char *hit = last_match(p + base, "images"), *idx3 = last_match(p + base, "-idx3-"),
         *idx4 = last_match(p + base, "-idx4-");
    if (!hit) {
        free(p);
        return SB_OK;
    }
    memcpy(hit, "labels", 6);
    if (idx3 || idx4)
        (idx3 > idx4 ? idx3 : idx4)[4] = '1';
    if (!is_file(p)) {
        if (has_suffix(p, ".gz"))
            p[n - 3] = 0;
        else
            memcpy(p + n, ".gz", 4);
    }
    if (is_file(p))
        *labels = p;
    else
        free(p);
    return SB_OK;
}

static sb_status dataset_load(const char *images, const char *labels, size_t max_resident,
                              sb_dataset **out, sb_error *err)
{
    sb_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory", images);
    sb_status s = load_images(d, images, max_resident, err);
    if (s == SB_OK && labels)
        s = load_labels(d, labels, images, err);
    if (s != SB_OK) {
        sb_dataset_free(d);
        return s;
    }
    *out = d;
    return SB_OK;
}

sb_status sb_dataset_open(const char *dir, const char *split, sb_dataset **out, sb_error *err)
{
    return sb_dataset_open_streamed(dir, split, SIZE_MAX, out, err);
}

sb_status sb_dataset_open_streamed(const char *dir, const char *split, size_t max_resident,
                                   sb_dataset **out, sb_error *err)
{
    if (!out || !dir || !split)
        return sb_error_set(err, SB_ERR_ARG, "sb_dataset_open: missing directory, split or output");
    *out = NULL;
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0)
        return sb_error_set(err, SB_ERR_ARG,
                            "unknown dataset split \"%s\"; use \"test\" or \"train\"", split);
    struct stat st;
    if (stat(dir, &st) != 0)
        return sb_error_set(err, SB_ERR_IO,
                            "%s: %s; pass the directory holding the dataset or the images file "
                            "itself",
                            dir, strerror(errno));
    char *images = NULL, *labels = NULL;
    sb_status s = SB_OK;
    if (S_ISDIR(st.st_mode))
        s = find_images(dir, split, &images, err);
    else if (!(images = str_dup(dir))) /* the images file itself; split does not apply */
        s = sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory", dir);
    if (s == SB_OK)
        s = find_labels(images, &labels, err);
    if (s == SB_OK)
        s = dataset_load(images, labels, max_resident, out, err);
    free(images);
    free(labels);
    return s;
}

void sb_dataset_free(sb_dataset *d)
{
    if (!d)
        return;
    free(d->pixels);
    stream_free(d->stream);
    free(d->labels);
    free(d);
}

int sb_dataset_count(const sb_dataset *d)
{
    return d ? d->n : 0;
}

sb_shape sb_dataset_image_shape(const sb_dataset *d)
{
    sb_shape s = {0};
    if (d)
        s = (sb_shape){.rank = 3, .dim = {d->c, d->h, d->w}};
    return s;
}

bool sb_dataset_is_streamed(const sb_dataset *d)
{
    return d && d->stream;
}

bool sb_dataset_has_labels(const sb_dataset *d)
{
    return d && d->labels;
}

int sb_dataset_label(const sb_dataset *d, int i)
{
    if (!d || !d->labels || i < 0 || i >= d->n)
        return -1;
    return d->labels[i];
}

/* ---- preprocessing ---- */

static float pp_mean(const sb_preprocess *pp, int64_t c)
{
    return pp->mean[c < pp->n_mean && c < MAX_CHANNELS ? c : 0];
}

static float pp_std(const sb_preprocess *pp, int64_t c)
{
    return pp->std[c < pp->n_std && c < MAX_CHANNELS ? c : 0];
}

/* Exactly torchvision's ToTensor + Normalize in float32: img.float().div(scale), then
 * sub_(mean).div_(std). Divisions, not reciprocal multiplications, and no multiply for the
 * compiler to contract into an FMA. A uint8 has 256 values, so one table per channel. */
static void build_lut(const sb_preprocess *pp, int64_t c, float *lut)
{
    const float mean = pp_mean(pp, c), std = pp_std(pp, c);
    for (int v = 0; v < 256; v++) {
        float x = (float)v / pp->scale;
        x = (x - mean) / std;
        lut[v] = x;
    }
}

static void map_u8(const uint8_t *src, const float *lut, int64_t channels, int64_t plane,
                   float *dst)
{
    for (int64_t c = 0; c < channels; c++)
        for (int64_t k = 0; k < plane; k++)
            dst[c * plane + k] = lut[c * 256 + src[c * plane + k]];
}

/* Float images are already scaled: only mean and std apply. */
static void map_f32(const float *src, const float *mean, const float *std, int64_t channels,
                    int64_t plane, float *dst)
{
    for (int64_t c = 0; c < channels; c++)
        for (int64_t k = 0; k < plane; k++) {
            float x = (src[c * plane + k] - mean[c]) / std[c];
            dst[c * plane + k] = x;
        }
}

/* src holds `count` images in the file's layout. */
static void fill_u8(const sb_dataset *d, const sb_preprocess *pp, const uint8_t *src, int count,
                    float *out)
{
    float lut[MAX_CHANNELS * 256];
    for (int64_t c = 0; c < d->c && c < MAX_CHANNELS; c++) /* d->c <= 4: checked at load */
        build_lut(pp, c, lut + c * 256);
    const int64_t plane = d->h * d->w, chw = d->c * plane;
    SB_FOR(sb_fork((double)count * chw, PAR_MIN_VALUES), int, i, count,
           map_u8(src + i * chw, lut, d->c, plane, out + i * chw););
}

static void fill_f32(const sb_dataset *d, const sb_preprocess *pp, const float *src, int count,
                     float *out)
{
    float mean[MAX_CHANNELS], std[MAX_CHANNELS];
    for (int64_t c = 0; c < d->c && c < MAX_CHANNELS; c++) {
        mean[c] = pp_mean(pp, c);
        std[c] = pp_std(pp, c);
    }
    const int64_t plane = d->h * d->w, chw = d->c * plane;
    SB_FOR(sb_fork((double)count * chw, PAR_MIN_VALUES), int, i, count,
           map_f32(src + i * chw, mean, std, d->c, plane, out + i * chw););
}

static void fill_from(const sb_dataset *d, const sb_preprocess *pp, const void *src, int count,
                      float *out)
{
    if (d->is_float)
        fill_f32(d, pp, src, count, out);
    else
        fill_u8(d, pp, src, count, out);
}

static sb_status stream_fill(const sb_dataset *d, const sb_preprocess *pp, int start, int count,
                             float *out, sb_error *err)
{
    image_stream *st = d->stream;
    pthread_mutex_lock(&st->mu);
    sb_status s = stream_fetch(st, start, count, err);
    if (s == SB_OK && d->is_float)
        s = decode_floats(st->path, st->buf, (uint64_t)count * st->image_bytes, (uint64_t)start,
                          d->c * d->h * d->w, d->h * d->w, d->w, err);
    if (s == SB_OK)
        fill_from(d, pp, st->buf, count, out);
    pthread_mutex_unlock(&st->mu);
    return s;
}

sb_status sb_dataset_read(const sb_dataset *d, const sb_preprocess *pp, int start, int count,
                          float *out, sb_error *err)
{
    if (!d || !pp || !out || start < 0 || count <= 0 || count > d->n - start)
        return SB_OK;
    if (d->stream)
        return stream_fill(d, pp, start, count, out, err);
    int64_t chw = d->c * d->h * d->w, es = d->is_float ? 4 : 1;
    fill_from(d, pp, (const unsigned char *)d->pixels + (int64_t)start * chw * es, count, out);
    return SB_OK;
}

/* A streamed dataset that fails to read gives NaN images, which no prediction counts on. */
void sb_dataset_fill(const sb_dataset *d, const sb_preprocess *pp, int start, int count, float *out)
{
    sb_error err = {0};
    if (sb_dataset_read(d, pp, start, count, out, &err) != SB_OK)
        for (int64_t i = 0; i < (int64_t)count * d->c * d->h * d->w; i++)
            out[i] = NAN;
}

/* ---- parsing metadata ---- */

#define EXPECT_LIST "write decimal numbers separated by commas, e.g. 0.485,0.456,0.406"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int count_items(const char *s)
{
    int n = 1;
    for (; *s; s++)
        n += *s == ',';
    return n;
}

/* Parses as a double, then rounds to float: that is what PyTorch does with the Python floats
 * given to Normalize. strtof rounds once and differs in rare cases: for "1.0000000596046448"
 * strtof gives 1.0000001 while PyTorch and numpy give 1.0. */
static sb_status parse_item(const char *list, const char *p, const char *end, int item,
                            locale_t loc, float *out, sb_error *err)
{
    while (p < end && is_blank(*p))
        p++;
    while (end > p && is_blank(end[-1]))
        end--;
    int len = (int)(end - p);
    if (len == 0)
        return sb_error_set(err, SB_ERR_FORMAT, "item %d of \"%s\" is empty; " EXPECT_LIST, item,
                            list);
    char *stop;
    double v = strtod_l(p, &stop, loc);
    if (stop != end)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "item %d of \"%s\" (\"%.*s\") is not a number; " EXPECT_LIST, item,
                            list, len, p);
    if (!isfinite(v) || fabs(v) > (double)FLT_MAX)
        return sb_error_set(
            err, SB_ERR_FORMAT,
            "item %d of \"%s\" (\"%.*s\") is not a finite float32 value; " EXPECT_LIST, item, list,
            len, p);
    *out = (float)v;
    return SB_OK;
}

sb_status sb_parse_float_list(const char *s, float *vals, int max, int *n, sb_error *err)
{
    if (!s || !vals || !n || max < 1)
        return sb_error_set(err, SB_ERR_ARG,
                            "sb_parse_float_list: missing string or output, or max < 1");
    *n = 0;
    const char *t = s;
    while (is_blank(*t))
        t++;
    if (!*t)
        return sb_error_set(err, SB_ERR_FORMAT, "\"%s\" holds no numbers; " EXPECT_LIST, s);
    int items = count_items(s);
    if (items > max)
        return sb_error_set(err, SB_ERR_FORMAT, "\"%s\" has %d values but at most %d %s accepted",
                            s, items, max, max == 1 ? "is" : "are");
    /* The C locale: a front end that called setlocale() must not turn "0.5" into 0. */
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!loc)
        return sb_error_set(err, SB_ERR_NOMEM, "cannot create the C locale to parse \"%s\"", s);
    sb_status st = SB_OK;
    const char *p = s;
    for (int i = 0; i < items && st == SB_OK; i++) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        st = parse_item(s, p, end, i + 1, loc, &vals[i], err);
        p = end + 1;
    }
    freelocale(loc);
    if (st == SB_OK)
        *n = items;
    return st;
}

static const char *model_name(const sb_model *m)
{
    const char *p = sb_model_path(m);
    return p ? p : "model";
}

/* Values of metadata KEY; a missing key leaves vals and *n untouched (the defaults). */
static sb_status meta_floats(const sb_model *m, const char *key, float *vals, int max, int *n,
                             sb_error *err)
{
    const char *v = sb_model_meta(m, key);
    if (!v)
        return SB_OK;
    sb_error e = {0};
    if (sb_parse_float_list(v, vals, max, n, &e) != SB_OK)
        return sb_error_set(err, SB_ERR_FORMAT, "%s: metadata %s: %s", model_name(m), key, e.msg);
    return SB_OK;
}

static sb_status check_preprocess(const sb_model *m, const sb_preprocess *p, sb_error *err)
{
    if (p->scale == 0)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: metadata preprocess.scale is \"%s\", but raw pixels are divided "
                            "by it; use 255 for inputs in [0,1] or 1 to keep raw values",
                            model_name(m), sb_model_meta(m, "preprocess.scale"));
    for (int i = 0; i < p->n_std; i++)
        if (p->std[i] == 0)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "%s: metadata preprocess.std is \"%s\": value %d is 0, but "
                                "standard deviations divide and must be non-zero",
                                model_name(m), sb_model_meta(m, "preprocess.std"), i + 1);
    if (p->n_mean > 1 && p->n_std > 1 && p->n_mean != p->n_std)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "%s: metadata preprocess.mean has %d values but preprocess.std has "
                            "%d; give one per channel or a single value for all channels",
                            model_name(m), p->n_mean, p->n_std);
    return SB_OK;
}

sb_status sb_preprocess_from_model(const sb_model *m, sb_preprocess *pp, sb_error *err)
{
    if (!m || !pp)
        return sb_error_set(err, SB_ERR_ARG, "sb_preprocess_from_model: missing model or output");
    sb_preprocess p = {.scale = 1, .n_mean = 1, .n_std = 1, .std = {1, 1, 1, 1}};
    int n_scale = 0;
    sb_status s = meta_floats(m, "preprocess.scale", &p.scale, 1, &n_scale, err);
    if (s == SB_OK)
        s = meta_floats(m, "preprocess.mean", p.mean, MAX_CHANNELS, &p.n_mean, err);
    if (s == SB_OK)
        s = meta_floats(m, "preprocess.std", p.std, MAX_CHANNELS, &p.n_std, err);
    if (s == SB_OK)
        s = check_preprocess(m, &p, err);
    if (s == SB_OK)
        *pp = p;
    return s;
}
