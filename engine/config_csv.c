/* The Config as a CSV file (docs/csv.md): a header row, then one row per layer whose setting is
 * not the default, plus `#` comment lines, one of which may carry the calibration settings.
 *
 * Reading goes through libcsv one byte at a time (its FAQ's recipe for comments): that way the
 * loader always knows the line and field it is at, can skip comment lines only where a record
 * may start (a quoted field may span lines), and can point every error at FILE:LINE:COLUMN.
 * Numbers are read and written in the C locale whatever the host program set, so a decimal
 * comma never reaches the file. */
#include "compress.h"

#include <csv.h>
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { COL_LAYER, COL_OP, COL_METHOD, COL_RATIO, COL_BITS, COL_GRAN, COL_SYM, COL_ACT, N_COLS };

static const char *const column_names[N_COLS] = {
    [COL_LAYER] = "layer",
    [COL_OP] = "op",
    [COL_METHOD] = "prune_method",
    [COL_RATIO] = "prune_ratio",
    [COL_BITS] = "quant_weight_bits",
    [COL_GRAN] = "quant_granularity",
    [COL_SYM] = "quant_symmetric",
    [COL_ACT] = "quant_activations",
};
#define HEADER_TEXT                                                                                \
    "layer,op,prune_method,prune_ratio,quant_weight_bits,quant_granularity,quant_symmetric,"       \
    "quant_activations"

static const char *const prune_names[] = {
    [SB_PRUNE_NONE] = "none",
    [SB_PRUNE_MAGNITUDE] = "magnitude",
    [SB_PRUNE_L1] = "l1",
    [SB_PRUNE_GLOBAL] = "global",
};
#define N_PRUNE ((int)(sizeof prune_names / sizeof prune_names[0]))
static const char *const gran_names[] = {
    [SB_GRAN_CHANNEL] = "channel", [SB_GRAN_TENSOR] = "tensor"};
#define N_GRAN ((int)(sizeof gran_names / sizeof gran_names[0]))

/* Calibration defaults as sb_config_new sets them; the calibration line is written only when
 * the Config differs from them. */
#define CALIB_PERCENTILE_DEFAULT 99.99
#define CALIB_IMAGES_DEFAULT 512
#define CALIB_SYNTAX                                                                               \
    "'# calibration: minmax [images N]' or '# calibration: percentile P [images N]'"

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static bool valid_bits(long bits)
{
    return bits == 32 || bits == 8 || bits == 6 || bits == 4 || bits == 2;
}

/* ---- numbers in the C locale ---- */

typedef struct c_numeric {
    locale_t c, old;
} c_numeric;

static void c_numeric_enter(c_numeric *s)
{
    s->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    s->old = s->c ? uselocale(s->c) : (locale_t)0;
}

static void c_numeric_leave(c_numeric *s)
{
    if (s->c) {
        uselocale(s->old);
        freelocale(s->c);
    }
}

/* A plain decimal ("0.5", "5e-1"): no hex, inf, nan or surrounding blanks. Overflow gives an
 * infinity, which the range checks reject; underflow to a subnormal or zero is fine. */
static bool parse_decimal(const char *s, double *out)
{
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
        return false;
    char *end;
    *out = strtod(s, &end);
    return *end == 0;
}

/* A whole number from 1 to 2^31-1, digits only. */
static bool parse_count(const char *s, int *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return false;
    long long v = strtoll(s, NULL, 10);
    if (v < 1 || v > 2147483647)
        return false;
    *out = (int)v;
    return true;
}

/* The shortest "%.Ng" that reads back as exactly v ("0.1", not "0.10000000000000001"), without
 * an exponent unless %.17g needs one too ("100", not "1e+02"). */
static void format_double(char *buf, size_t n, double v)
{
    char full[40];
    snprintf(full, sizeof full, "%.17g", v);
    bool exp_ok = strchr(full, 'e') != NULL;
    for (int prec = 1; prec < 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v && (exp_ok || !strchr(buf, 'e')))
            return;
    }
    snprintf(buf, n, "%s", full);
}

/* ---- reading ---- */

typedef struct field {
    size_t off; /* into csv_ctx.text */
    int line;   /* where the field starts */
} field;

typedef struct csv_ctx {
    const sb_model *m;
    const char *path;
    sb_config *c;
    sb_error *err;
    sb_status status; /* the first error: parsing stops there */

    int line;           /* physical line of the byte being read (1-based) */
    bool at_row_start;  /* no record begun: blanks are skipped and '#' starts a comment */
    bool field_pending; /* the next non-blank byte starts a field */
    bool field_quoted;  /* the current field starts with a quote */
    int field_line;

    char *text; /* the current row's fields, each NUL-terminated */
    size_t text_len, text_cap;
    field *f;
    int n_fields;
    size_t cap_fields;

    bool in_comment;
    int comment_line;
    char *comment;
    size_t comment_len, comment_cap;
    bool any_comment;

    bool have_header;
    int *row_of_layer;    /* per layer: the line of the row that set it, 0 if none */
    int global_line;      /* the first `global` row, 0 if none */
    char global_text[64]; /* its ratio as written */
    int calib_line;       /* the calibration comment, 0 if none */
} csv_ctx;

/* A field's value as it goes into a message: at most 60 bytes (cut at a UTF-8 character
 * boundary), control characters shown as '?'. */
static const char *clip(const char *s, char *buf, size_t n)
{
    size_t len = strlen(s), max = n - 4 < 60 ? n - 4 : 60;
    bool cut = len > max;
    if (cut) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    strcpy(buf + len, cut ? "..." : "");
    return buf;
}

static sb_status fail(csv_ctx *x, sb_status s, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static sb_status fail(csv_ctx *x, sb_status s, int line, int col, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    x->status = sb_error_set(x->err, s, "%s:%d:%d: %s", x->path, line, col, what);
    return x->status;
}

/* Room for `need` elements of `elem` bytes: the (possibly moved) block, or NULL with the error
 * recorded (p is then still valid). */
static void *grow(csv_ctx *x, void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (!q) {
        x->status = sb_error_set(x->err, SB_ERR_NOMEM, "%s: out of memory", x->path);
        return NULL;
    }
    *cap = n;
    return q;
}

static const char *fld(const csv_ctx *x, int i)
{
    return x->text + x->f[i].off;
}

static sb_status check_header(csv_ctx *x)
{
    const char *expect = "(expected exactly: " HEADER_TEXT ")";
    char v[64];
    int known = 0;
    for (int i = 0; i < x->n_fields; i++)
        known += lookup(column_names, N_COLS, fld(x, i)) >= 0;
    if (!known)
        return fail(x, SB_ERR_FORMAT, x->f[0].line, 1, "the first row is not the header %s",
                    expect);
    for (int i = 0; i < x->n_fields || i < N_COLS; i++) {
        if (i >= x->n_fields)
            return fail(x, SB_ERR_FORMAT, x->f[x->n_fields - 1].line, i + 1,
                        "missing column '%s' %s", column_names[i], expect);
        const char *name = fld(x, i);
        if (i < N_COLS && strcmp(name, column_names[i]) == 0)
            continue;
        int at = lookup(column_names, N_COLS, name);
        if (at < 0)
            return fail(x, SB_ERR_FORMAT, x->f[i].line, i + 1, "unknown column '%s' %s",
                        clip(name, v, sizeof v), expect);
        if (at < i)
            return fail(x, SB_ERR_FORMAT, x->f[i].line, i + 1, "duplicate column '%s' %s", name,
                        expect);
        return fail(x, SB_ERR_FORMAT, x->f[i].line, i + 1,
                    "column '%s' is out of place: '%s' belongs here %s", name, column_names[i],
                    expect);
    }
    x->have_header = true;
    return SB_OK;
}

static sb_status data_row(csv_ctx *x)
{
    char v[64];
    const field *f = x->f;
    if (x->n_fields < N_COLS)
        return fail(x, SB_ERR_FORMAT, f[x->n_fields - 1].line, x->n_fields + 1,
                    "missing field %s (each row has the header's %d fields)",
                    column_names[x->n_fields], N_COLS);
    if (x->n_fields > N_COLS)
        return fail(x, SB_ERR_FORMAT, f[N_COLS].line, N_COLS + 1,
                    "extra field '%s' (each row has the header's %d fields)",
                    clip(fld(x, N_COLS), v, sizeof v), N_COLS);

    const char *name = fld(x, COL_LAYER);
    if (!*name)
        return fail(x, SB_ERR_FORMAT, f[COL_LAYER].line, COL_LAYER + 1,
                    "empty layer name (expected a layer name, see slimbench inspect)");
    int li = sb_model_find_layer(x->m, name);
    if (li < 0)
        return fail(x, SB_ERR_FORMAT, f[COL_LAYER].line, COL_LAYER + 1,
                    "no layer '%s' in the model (see slimbench inspect)", clip(name, v, sizeof v));
    sb_layer_info info;
    if (sb_model_layer(x->m, li, &info))
        return x->status = sb_error_set(x->err, SB_ERR_INTERNAL, "layer %d has no info", li);
    if (x->row_of_layer[li]) {
        if (strcmp(name, info.name) == 0)
            return fail(x, SB_ERR_FORMAT, f[COL_LAYER].line, COL_LAYER + 1,
                        "layer '%s' already has a row on line %d (one row per layer)", info.name,
                        x->row_of_layer[li]);
        return fail(x, SB_ERR_FORMAT, f[COL_LAYER].line, COL_LAYER + 1,
                    "'%s' is layer '%s', which already has a row on line %d (one row per layer)",
                    clip(name, v, sizeof v), info.name, x->row_of_layer[li]);
    }

    sb_layer_config l = SB_LAYER_DEFAULT;
    const char *s = fld(x, COL_METHOD);
    int method = lookup(prune_names, N_PRUNE, s);
    if (method < 0)
        return fail(x, SB_ERR_FORMAT, f[COL_METHOD].line, COL_METHOD + 1,
                    "unknown pruning method '%s' (expected none, magnitude, l1 or global)",
                    clip(s, v, sizeof v));
    l.prune = (sb_prune_method)method;
    if (l.prune == SB_PRUNE_L1) { /* the same test and reason as sb_config_validate */
        sb_group_info gi = {.why_not = "they are not part of a channel group"};
        int g = sb_model_layer_group(x->m, li);
        if (g < 0 || sb_model_group(x->m, g, &gi) != SB_OK || !gi.prunable)
            return fail(x, SB_ERR_FORMAT, f[COL_METHOD].line, COL_METHOD + 1,
                        "l1 pruning cannot remove the output channels of layer '%s': %s (use "
                        "magnitude or global)",
                        info.name, gi.why_not ? gi.why_not : "they cannot be pruned");
    }

    s = fld(x, COL_RATIO);
    double ratio;
    if (!parse_decimal(s, &ratio))
        return fail(x, SB_ERR_FORMAT, f[COL_RATIO].line, COL_RATIO + 1,
                    "ratio '%s' is not a number (expected a decimal in [0, 1), e.g. 0.5)",
                    clip(s, v, sizeof v));
    if (!(ratio >= 0 && ratio < 1))
        return fail(x, SB_ERR_FORMAT, f[COL_RATIO].line, COL_RATIO + 1,
                    "ratio '%s' is outside [0, 1)", clip(s, v, sizeof v));
    if (l.prune == SB_PRUNE_GLOBAL) { /* the shared ratio lives in the Config, not the layer */
        if (x->global_line && ratio != x->c->global_ratio)
            return fail(x, SB_ERR_FORMAT, f[COL_RATIO].line, COL_RATIO + 1,
                        "global ratio '%s' differs from '%s' on line %d (all global rows share "
                        "one ratio)",
                        clip(s, v, sizeof v), x->global_text, x->global_line);
        if (!x->global_line) {
            x->global_line = f[COL_RATIO].line;
            x->c->global_ratio = ratio;
            clip(s, x->global_text, sizeof x->global_text);
        }
    } else {
        l.ratio = ratio;
    }

    s = fld(x, COL_BITS);
    long bits = strspn(s, "0123456789") == strlen(s) && strlen(s) <= 2 ? strtol(s, NULL, 10) : 0;
    if (!*s || !valid_bits(bits))
        return fail(x, SB_ERR_FORMAT, f[COL_BITS].line, COL_BITS + 1,
                    "unsupported weight bits '%s' (expected 32, 8, 6, 4 or 2)",
                    clip(s, v, sizeof v));
    l.wbits = (int)bits;

    s = fld(x, COL_GRAN);
    int gran = lookup(gran_names, N_GRAN, s);
    if (gran < 0)
        return fail(x, SB_ERR_FORMAT, f[COL_GRAN].line, COL_GRAN + 1,
                    "unknown granularity '%s' (expected channel or tensor)", clip(s, v, sizeof v));
    l.gran = (sb_granularity)gran;

    s = fld(x, COL_SYM);
    if (strcmp(s, "sym") != 0 && strcmp(s, "asym") != 0)
        return fail(x, SB_ERR_FORMAT, f[COL_SYM].line, COL_SYM + 1,
                    "unknown symmetry '%s' (expected sym or asym)", clip(s, v, sizeof v));
    l.asymmetric = strcmp(s, "asym") == 0;

    s = fld(x, COL_ACT);
    if (strcmp(s, "none") != 0 && strcmp(s, "a8") != 0)
        return fail(x, SB_ERR_FORMAT, f[COL_ACT].line, COL_ACT + 1,
                    "unknown activation quantisation '%s' (expected none or a8)",
                    clip(s, v, sizeof v));
    l.act8 = strcmp(s, "a8") == 0;

    x->c->layer[li] = l;
    x->row_of_layer[li] = f[COL_LAYER].line;
    return SB_OK;
}

/* libcsv callbacks: one per field, one per record. */
static void on_field(void *data, size_t len, void *user)
{
    csv_ctx *x = user;
    x->field_pending = true;
    if (x->status)
        return;
    char *text = grow(x, x->text, &x->text_cap, x->text_len + len + 1, 1);
    if (!text)
        return;
    x->text = text;
    field *f = grow(x, x->f, &x->cap_fields, (size_t)x->n_fields + 1, sizeof *x->f);
    if (!f)
        return;
    x->f = f;
    if (len && memchr(data, 0, len)) {
        fail(x, SB_ERR_FORMAT, x->field_line, x->n_fields + 1,
             "the field holds a NUL byte (expected text; is this a CSV file?)");
        return;
    }
    if (len)
        memcpy(x->text + x->text_len, data, len);
    x->text[x->text_len + len] = 0;
    x->f[x->n_fields++] = (field){.off = x->text_len, .line = x->field_line};
    x->text_len += len + 1;
}

static void on_row(int terminator, void *user)
{
    csv_ctx *x = user;
    x->at_row_start = x->field_pending = true;
    if (!x->status && x->n_fields > 0 && x->have_header)
        data_row(x);
    else if (!x->status && x->n_fields > 0)
        check_header(x);
    x->n_fields = 0;
    x->text_len = 0;
}

/* "# calibration: minmax [images N]" or "# calibration: percentile P [images N]"; any other
 * comment is ignored. */
static sb_status comment_line(csv_ctx *x)
{
    char *s = x->comment + 1; /* past '#' */
    s += strspn(s, " \t");
    if (strncmp(s, "calibration:", 12) != 0)
        return SB_OK;
    if (x->calib_line)
        return fail(x, SB_ERR_FORMAT, x->comment_line, 1,
                    "second calibration line (the first is on line %d)", x->calib_line);
    x->calib_line = x->comment_line;
    char *tok[8], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(s + 12, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        tok[n < 8 ? n++ : 7] = t;
    int at = 1;
    char v[64];
    sb_config *c = x->c;
    if (n >= 1 && strcmp(tok[0], "minmax") == 0) {
        c->calib = SB_CALIB_MINMAX;
    } else if (n >= 2 && strcmp(tok[0], "percentile") == 0 &&
               parse_decimal(tok[1], &c->percentile)) {
        c->calib = SB_CALIB_PERCENTILE;
        at = 2;
        if (!(c->percentile > 50 && c->percentile <= 100))
            return fail(x, SB_ERR_FORMAT, x->comment_line, 1,
                        "calibration percentile '%s' is outside (50, 100]",
                        clip(tok[1], v, sizeof v));
    } else {
        at = -1;
    }
    if (at > 0 && n == at + 2 && strcmp(tok[at], "images") == 0) {
        if (!parse_count(tok[at + 1], &c->calib_images))
            return fail(x, SB_ERR_FORMAT, x->comment_line, 1,
                        "calibration images '%s' is not a whole number from 1 to 2147483647",
                        clip(tok[at + 1], v, sizeof v));
        at += 2;
    }
    if (at < 0 || at != n)
        return fail(x, SB_ERR_FORMAT, x->comment_line, 1,
                    "malformed calibration line (expected " CALIB_SYNTAX ")");
    return SB_OK;
}

static void end_comment(csv_ctx *x)
{
    x->in_comment = false;
    x->comment[x->comment_len] = 0;
    comment_line(x);
}

static bool add_comment_byte(csv_ctx *x, unsigned char b)
{
    char *t = grow(x, x->comment, &x->comment_cap, x->comment_len + 2, 1);
    if (!t)
        return false;
    x->comment = t;
    x->comment[x->comment_len++] = (char)b;
    return true;
}

/* Feeds one byte of the file: comments and blank lines between records are handled here,
 * everything else goes to libcsv. */
static void feed(csv_ctx *x, struct csv_parser *p, unsigned char b)
{
    bool eol = b == '\n' || b == '\r';
    if (x->in_comment) {
        if (eol)
            end_comment(x);
        else
            add_comment_byte(x, b);
        return;
    }
    if (x->at_row_start) {
        if (eol || b == ' ' || b == '\t')
            return;
        if (b == '#') {
            x->in_comment = x->any_comment = true;
            x->comment_line = x->line;
            x->comment_len = 0;
            add_comment_byte(x, b);
            return;
        }
        x->at_row_start = false;
    }
    if (x->field_pending && b != ' ' && b != '\t') {
        x->field_pending = false;
        x->field_line = x->line;
        x->field_quoted = b == '"';
    }
    if (csv_parse(p, &b, 1, on_field, on_row, x) == 1 || x->status)
        return;
    if (csv_error(p) != CSV_EPARSE)
        x->status = sb_error_set(x->err, SB_ERR_NOMEM, "%s: out of memory", x->path);
    else if (x->field_quoted)
        fail(x, SB_ERR_FORMAT, x->line, x->n_fields + 1,
             "text after the closing quote of a quoted field (a quote inside a quoted field is "
             "doubled: \"a\"\"b\")");
    else
        fail(x, SB_ERR_FORMAT, x->line, x->n_fields + 1,
             "a quote inside an unquoted field (quote the whole field and double the quotes "
             "inside it: \"a\"\"b\")");
}

static sb_status read_file(csv_ctx *x, FILE *fp)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return x->status = sb_error_set(x->err, SB_ERR_NOMEM, "%s: out of memory", x->path);
    unsigned char buf[16384];
    bool first = true, prev_cr = false;
    size_t n;
    while (!x->status && (n = fread(buf, 1, sizeof buf, fp)) > 0) {
        size_t i = 0;
        if (first && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
            i = 3; /* a UTF-8 byte order mark, as spreadsheets write */
        first = false;
        for (; i < n && !x->status; i++) {
            unsigned char b = buf[i];
            bool crlf = prev_cr && b == '\n';
            prev_cr = b == '\r';
            feed(x, &p, b);
            if ((b == '\n' && !crlf) || b == '\r')
                x->line++;
        }
    }
    if (!x->status && ferror(fp))
        x->status =
            sb_error_set(x->err, SB_ERR_IO, "%s: cannot read: %s", x->path, strerror(errno));
    if (!x->status && x->in_comment)
        end_comment(x);
    if (!x->status && csv_fini(&p, on_field, on_row, x) != 0 && !x->status)
        fail(x, SB_ERR_FORMAT, x->field_line, x->n_fields + 1,
             "quoted field never closed (expected a closing '\"' before the end of the file)");
    csv_free(&p);
    if (!x->status && !x->have_header)
        x->status = sb_error_set(
            x->err, SB_ERR_FORMAT, "%s: %s (expected the header row: %s)", x->path,
            x->any_comment ? "no header row, only comments" : "the file is empty", HEADER_TEXT);
    return x->status;
}

sb_status sb_config_load_csv(const sb_model *m, const char *path, sb_config *c, sb_error *err)
{
    memset(c, 0, sizeof *c);
    sb_config cfg;
    sb_status s = sb_config_new(m, &cfg, err);
    if (s)
        return s;
    csv_ctx x = {.m = m,
                 .path = path,
                 .c = &cfg,
                 .err = err,
                 .line = 1,
                 .at_row_start = true,
                 .field_pending = true};
    x.row_of_layer = calloc((size_t)cfg.n_layers + 1, sizeof *x.row_of_layer);
    FILE *fp = NULL;
    if (!x.row_of_layer)
        s = sb_error_set(err, SB_ERR_NOMEM, "%s: out of memory", path);
    else if (!(fp = fopen(path, "rb")))
        s = sb_error_set(err, SB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!s) {
        c_numeric loc;
        c_numeric_enter(&loc);
        s = read_file(&x, fp);
        c_numeric_leave(&loc);
    }
    if (fp)
        fclose(fp);
    if (!s && (s = sb_config_validate(m, &cfg, err)) != SB_OK)
        sb_error_prefix(err, "%s: ", path); /* a safety net: the rows were checked one by one */
    free(x.text);
    free(x.f);
    free(x.comment);
    free(x.row_of_layer);
    if (s)
        sb_config_free(&cfg);
    else
        *c = cfg;
    return s;
}

/* ---- writing ---- */

/* Writes one field, quoted only when it has to be: a delimiter, quote or line break inside,
 * blanks at either end (libcsv trims them from unquoted fields), an empty value, or a '#' that
 * would make the line a comment. */
static void put_field(FILE *f, const char *s, bool first)
{
    size_t n = strlen(s);
    bool quote = n == 0 || strpbrk(s, ",\"\r\n") || s[0] == ' ' || s[0] == '\t' ||
                 s[n - 1] == ' ' || s[n - 1] == '\t' || (first && s[0] == '#');
    if (!first)
        fputc(',', f);
    if (quote)
        csv_fwrite(f, s, n);
    else
        fputs(s, f);
}

/* The name under which the row is written: the display name, or (when another layer would
 * claim it on loading) the ONNX node name or the weight name. */
static const char *row_name(const sb_model *m, int i, const sb_layer_info *info)
{
    const char *cand[] = {info->name, info->node_name, info->weight_name};
    for (int k = 0; k < 3; k++)
        if (cand[k] && *cand[k] && sb_model_find_layer(m, cand[k]) == i)
            return cand[k];
    return NULL;
}

static sb_status check_savable(const sb_model *m, const sb_config *c, const char *path,
                               sb_error *err)
{
    sb_status s = sb_config_validate(m, c, err);
    if (s) {
        sb_error_prefix(err, "cannot save %s: ", path);
        return s;
    }
    if (c->calib != SB_CALIB_MINMAX && c->calib != SB_CALIB_PERCENTILE)
        return sb_error_set(err, SB_ERR_ARG, "cannot save %s: unknown calibration method %d", path,
                            (int)c->calib);
    if (c->calib_images < 1)
        return sb_error_set(err, SB_ERR_ARG,
                            "cannot save %s: %d calibration images (expected at least 1)", path,
                            c->calib_images);
    for (int i = 0; i < c->n_layers; i++) {
        const sb_layer_config *l = &c->layer[i];
        if (sb_layer_config_is_default(l))
            continue;
        sb_layer_info info;
        if (sb_model_layer(m, i, &info) != SB_OK)
            return sb_error_set(err, SB_ERR_INTERNAL, "layer %d has no info", i);
        if ((unsigned)l->prune >= (unsigned)N_PRUNE || (unsigned)l->gran >= (unsigned)N_GRAN)
            return sb_error_set(err, SB_ERR_ARG,
                                "cannot save %s: layer '%s': unknown pruning method %d or "
                                "granularity %d",
                                path, info.name, (int)l->prune, (int)l->gran);
        /* validate skips the ratio of unpruned layers; the file cannot hold it either way */
        if (l->prune != SB_PRUNE_GLOBAL && !(l->ratio >= 0 && l->ratio < 1))
            return sb_error_set(err, SB_ERR_ARG,
                                "cannot save %s: layer '%s': ratio %g is outside [0, 1)", path,
                                info.name, l->ratio);
        if (!row_name(m, i, &info))
            return sb_error_set(err, SB_ERR_INTERNAL,
                                "cannot save %s: layer '%s' has no name that finds it again", path,
                                info.name);
    }
    return SB_OK;
}

static void write_rows(FILE *f, const sb_model *m, const sb_config *c)
{
    char num[40];
    if (c->calib == SB_CALIB_PERCENTILE) {
        format_double(num, sizeof num, c->percentile);
        fprintf(f, "# calibration: percentile %s images %d\n", num, c->calib_images);
    } else if (c->calib_images != CALIB_IMAGES_DEFAULT) {
        fprintf(f, "# calibration: minmax images %d\n", c->calib_images);
    }
    fputs(HEADER_TEXT "\n", f);
    for (int i = 0; i < c->n_layers; i++) {
        const sb_layer_config *l = &c->layer[i];
        if (sb_layer_config_is_default(l))
            continue;
        sb_layer_info info;
        sb_model_layer(m, i, &info);
        put_field(f, row_name(m, i, &info), true);
        put_field(f, info.op ? info.op : "", false);
        format_double(num, sizeof num, l->prune == SB_PRUNE_GLOBAL ? c->global_ratio : l->ratio);
        fprintf(f, ",%s,%s,%d,%s,%s,%s\n", prune_names[l->prune], num, l->wbits,
                gran_names[l->gran], l->asymmetric ? "asym" : "sym", l->act8 ? "a8" : "none");
    }
}

sb_status sb_config_save_csv(const sb_model *m, const sb_config *c, const char *path, sb_error *err)
{
    sb_status s = check_savable(m, c, path, err);
    if (s)
        return s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    c_numeric loc;
    c_numeric_enter(&loc);
    write_rows(f, m, c);
    c_numeric_leave(&loc);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    else
        s = sb_write_file_atomic(path, buf, len, err);
    free(buf);
    return s;
}
