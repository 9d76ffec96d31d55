#include "ui_format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Appends s to buf (capacity n) at *len, never splitting a UTF-8 sequence. */
static void put(char *buf, size_t n, size_t *len, const char *s)
{
    size_t k = strlen(s);
    if (*len + k < n) {
        memcpy(buf + *len, s, k);
        *len += k;
    }
    if (n)
        buf[*len < n ? *len : n - 1] = 0;
}

static void put_n(char *buf, size_t n, size_t *len, const char *s, int times)
{
    for (int i = 0; i < times; i++)
        put(buf, n, len, s);
}

char *ui_fmt_count(char *buf, size_t n, int64_t v)
{
    static const struct {
        double div;
        char suffix;
    } units[] = {{1e12, 'T'}, {1e9, 'G'}, {1e6, 'M'}, {1e3, 'k'}};
    double a = (double)v;
    if (v < 10000 && v > -10000) {
        snprintf(buf, n, "%lld", (long long)v);
        return buf;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        double x = a / units[i].div;
        if (fabs(x) < 0.9995 && i + 1 < sizeof units / sizeof units[0])
            continue;
        int prec = fabs(x) >= 99.95 ? 0 : fabs(x) >= 9.995 ? 1 : 2;
        snprintf(buf, n, "%.*f%c", prec, x, units[i].suffix);
        break;
    }
    return buf;
}

char *ui_fmt_bytes(char *buf, size_t n, double bytes)
{
    if (bytes < 1000)
        snprintf(buf, n, "%.0f B", bytes);
    else if (bytes < 999.5e3)
        snprintf(buf, n, "%.0f KB", bytes / 1e3);
    else if (bytes < 99.95e6)
        snprintf(buf, n, "%.*f MB", bytes < 9.995e6 ? 2 : 1, bytes / 1e6);
    else
        snprintf(buf, n, "%.0f MB", bytes / 1e6);
    return buf;
}

char *ui_fmt_pct(char *buf, size_t n, double frac)
{
    double p = 100.0 * frac;
    if (p >= 100.0)
        snprintf(buf, n, "100%%");
    else if (p > 0 && p < 0.05)
        snprintf(buf, n, "<0.1%%");
    else /* 99.96 must not round up to a misleading 100.0 */
        snprintf(buf, n, "%.1f%%", p >= 99.95 ? 99.9 : p);
    return buf;
}

char *ui_fmt_ms(char *buf, size_t n, double ms)
{
    int prec = ms < 0.09995 ? 4 : ms < 0.9995 ? 3 : ms < 9.995 ? 2 : ms < 99.95 ? 1 : 0;
    snprintf(buf, n, "%.*f", prec, ms);
    return buf;
}

void ui_wilson(int k, int n, double *lo, double *hi)
{
    const double z = 1.959964, z2 = z * z;
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double p = (double)k / n, d = 1 + z2 / n;
    double center = (p + z2 / (2.0 * n)) / d;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / d;
    *lo = center - half < 0 ? 0 : center - half;
    *hi = center + half > 1 ? 1 : center + half;
}

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

int ui_text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += !is_cont((unsigned char)*s);
    return w;
}

/* Byte offset of the glyph that starts column col. */
static size_t offset_of(const char *s, int col)
{
    size_t i = 0;
    for (int c = 0; s[i] && c <= col; i++)
        if (!is_cont((unsigned char)s[i]) && c++ == col)
            return i;
    return i;
}

char *ui_text_fit(char *buf, size_t n, const char *src, int width, bool right, bool utf8)
{
    size_t len = 0;
    int w = ui_text_width(src);
    put(buf, n, &len, "");
    if (width <= 0)
        return buf;
    if (w <= width) {
        if (right)
            put_n(buf, n, &len, " ", width - w);
        put(buf, n, &len, src);
        if (!right)
            put_n(buf, n, &len, " ", width - w);
        return buf;
    }
    int head = width / 2, tail = width - head - 1;
    char tmp[1024];
    size_t hb = offset_of(src, head);
    snprintf(tmp, sizeof tmp, "%.*s", (int)hb, src);
    put(buf, n, &len, tmp);
    put(buf, n, &len, width == 1 ? "" : utf8 ? "\u2026" : "~");
    put(buf, n, &len, src + offset_of(src, w - tail));
    return buf;
}

char *ui_spark(char *buf, size_t n, const double *v, int count, int width, bool utf8)
{
    static const char *const blocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                         "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char ascii[] = ".:-=+*#@";
    size_t len = 0;
    put(buf, n, &len, "");
    int cells = count < width ? count : width;
    if (cells <= 0)
        return buf;
    double top = v[0] > 0 ? v[0] : 0;
    for (int c = 0; c < cells; c++) {
        int a = (int)((int64_t)c * count / cells), b = (int)((int64_t)(c + 1) * count / cells);
        double sum = 0;
        for (int i = a; i < b; i++)
            sum += v[i];
        double level = top > 0 ? sum / (b - a) / top : 0;
        int k = (int)ceil(level * 8.0) - 1;
        k = k > 7 ? 7 : k < 0 ? 0 : k;
        char one[2] = {ascii[k], 0};
        put(buf, n, &len, level <= 0 ? " " : utf8 ? blocks[k] : one);
    }
    return buf;
}

char *ui_hbar(char *buf, size_t n, double frac, int width, bool utf8)
{
    static const char *const eighths[] = {"",       "\u258F", "\u258E", "\u258D",
                                          "\u258C", "\u258B", "\u258A", "\u2589"};
    size_t len = 0;
    put(buf, n, &len, "");
    if (width <= 0)
        return buf;
    frac = frac < 0 || frac != frac ? 0 : frac > 1 ? 1 : frac;
    int units = (int)lround(frac * width * 8);
    int full = units / 8, rem = units % 8;
    put_n(buf, n, &len, utf8 ? "\u2588" : "#", full);
    if (rem && full < width) {
        put(buf, n, &len, utf8 ? eighths[rem] : rem >= 4 ? "+" : "");
        full += utf8 || rem >= 4;
    }
    put_n(buf, n, &len, " ", width - full);
    return buf;
}

typedef struct big_glyph {
    char ch;
    const char *rows[UI_BIG_HEIGHT];
} big_glyph;

static const big_glyph big_font[] = {
    {'0', {"###", "# #", "# #", "# #", "###"}}, {'1', {" # ", "## ", " # ", " # ", "###"}},
    {'2', {"###", "  #", "###", "#  ", "###"}}, {'3', {"###", "  #", " ##", "  #", "###"}},
    {'4', {"# #", "# #", "###", "  #", "  #"}}, {'5', {"###", "#  ", "###", "  #", "###"}},
    {'6', {"###", "#  ", "###", "# #", "###"}}, {'7', {"###", "  #", "  #", "  #", "  #"}},
    {'8', {"###", "# #", "###", "# #", "###"}}, {'9', {"###", "# #", "###", "  #", "###"}},
    {'.', {" ", " ", " ", " ", "#"}},           {'%', {"# #", "  #", " # ", "#  ", "# #"}},
    {'-', {"   ", "   ", "###", "   ", "   "}}, {'x', {"   ", "# #", " # ", "# #", "   "}},
    {' ', {" ", " ", " ", " ", " "}},
};

static const big_glyph *big_find(char ch)
{
    for (size_t i = 0; i < sizeof big_font / sizeof big_font[0]; i++)
        if (big_font[i].ch == ch)
            return &big_font[i];
    return &big_font[sizeof big_font / sizeof big_font[0] - 1];
}

int ui_big_width(const char *text, int scale)
{
    int w = 0;
    for (const char *p = text; *p; p++)
        w += (int)strlen(big_find(*p)->rows[0]) + (p[1] != 0);
    return w * scale;
}

char *ui_big_row(char *buf, size_t n, const char *text, int row, int scale, bool utf8)
{
    size_t len = 0;
    put(buf, n, &len, "");
    if (scale < 1 || row < 0 || row >= UI_BIG_HEIGHT * scale)
        return buf;
    for (const char *p = text; *p; p++) {
        for (const char *q = big_find(*p)->rows[row / scale]; *q; q++)
            put_n(buf, n, &len, *q == ' ' ? " " : utf8 ? "\u2588" : "#", scale);
        if (p[1])
            put_n(buf, n, &len, " ", scale);
    }
    return buf;
}

static const char *const vblocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                      "\u2585", "\u2586", "\u2587", "\u2588"};

char *ui_spark_levels(char *buf, size_t n, const double *v, int count, double top, bool utf8)
{
    static const char ascii[] = ".:-=+*#@";
    size_t len = 0;
    put(buf, n, &len, "");
    for (int i = 0; i < count; i++) {
        double level = top > 0 ? v[i] / top : 0;
        int k = (int)ceil(level * 8.0) - 1;
        k = k > 7 ? 7 : k < 0 ? 0 : k;
        char one[2] = {ascii[k], 0};
        put(buf, n, &len, level <= 0 ? " " : utf8 ? vblocks[k] : one);
    }
    return buf;
}

void ui_histogram(const double *v, int count, double lo, double hi, int bins, int *counts)
{
    for (int b = 0; b < bins; b++)
        counts[b] = 0;
    if (bins <= 0)
        return;
    double span = hi - lo;
    for (int i = 0; i < count; i++) {
        int b = span > 0 ? (int)floor((v[i] - lo) / span * bins) : 0;
        counts[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
    }
}

char *ui_plot_row(char *buf, size_t n, const double *v, int count, double lo, double hi,
                  int height, int row, int colw, bool utf8)
{
    size_t len = 0;
    put(buf, n, &len, "");
    int from_bottom = height - 1 - row;
    for (int i = 0; i < count; i++) {
        double f = hi > lo ? (v[i] - lo) / (hi - lo) : 0;
        f = f < 0 || f != f ? 0 : f > 1 ? 1 : f;
        int eighths = (int)lround(f * height * 8) - from_bottom * 8;
        eighths = eighths < 0 ? 0 : eighths > 8 ? 8 : eighths;
        const char *cell = eighths == 0 ? " "
                           : utf8       ? vblocks[eighths - 1]
                           : eighths >= 4 ? "#"
                                          : ".";
        int bar = colw > 1 ? colw - 1 : 1;
        put_n(buf, n, &len, cell, bar);
        if (colw > 1)
            put(buf, n, &len, " ");
    }
    return buf;
}
