/* Text for the workbench: human units, bars, sparklines, big digits. Pure functions of their
 * arguments (no curses), so they are tested without a terminal. Every function writes a
 * NUL-terminated string into buf (truncated to n bytes) and returns buf. */
#ifndef UI_FORMAT_H
#define UI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { UI_BIG_HEIGHT = 5 }; /* rows of a big-digit glyph */

char *ui_fmt_count(char *buf, size_t n, int64_t v);    /* 448, 9999, 78.3k, 12.5M, 1.20G */
char *ui_fmt_bytes(char *buf, size_t n, double bytes); /* 980 B, 312 KB, 1.25 MB */
char *ui_fmt_pct(char *buf, size_t n, double frac);    /* 0.0%, <0.1%, 3.7%, 100% */
char *ui_fmt_ms(char *buf, size_t n, double ms);       /* 0.0412, 0.412, 4.12, 41.2, 412 */

/* 95% Wilson score interval of the proportion k/n (0..1). */
void ui_wilson(int k, int n, double *lo, double *hi);

/* Display columns of a UTF-8 string (every glyph we draw is one column wide). */
int ui_text_width(const char *s);
/* src fitted to exactly width columns: padded (right-aligned if right), or shortened in the
 * middle with a marker so both the start and the end of a module path stay visible. */
char *ui_text_fit(char *buf, size_t n, const char *src, int width, bool right, bool utf8);

/* One glyph per column, at most width columns (fewer if count < width): the bucket means of
 * v (sorted largest first) relative to v[0]. A dead (all-zero) bucket draws as a space. */
char *ui_spark(char *buf, size_t n, const double *v, int count, int width, bool utf8);
/* A bar frac (0..1) of width columns long, in eighths of a cell when utf8; padded to width. */
char *ui_hbar(char *buf, size_t n, double frac, int width, bool utf8);

/* One glyph per value, its height relative to top (a sparkline of levels); 0 draws a space,
 * anything above 0 at least the lowest block. */
char *ui_spark_levels(char *buf, size_t n, const double *v, int count, double top, bool utf8);
/* Counts of v[0..count) in `bins` equal bins over [lo, hi] (values outside go to the ends). */
void ui_histogram(const double *v, int count, double lo, double hi, int bins, int *counts);
/* One text row (0: top) of a column chart of v[0..count) scaled from lo (empty) to hi (full
 * height rows), each column colw cells wide (the last cell of each is a gap when colw > 1),
 * in eighths of a cell when utf8. */
char *ui_plot_row(char *buf, size_t n, const double *v, int count, double lo, double hi,
                  int height, int row, int colw, bool utf8);

/* Big 3x5 digits for the workshop view (digits . % - x and space), each pixel scale x scale
 * cells: the width in columns, and row (0 .. UI_BIG_HEIGHT * scale - 1) as text. */
int ui_big_width(const char *text, int scale);
char *ui_big_row(char *buf, size_t n, const char *text, int row, int scale, bool utf8);

#endif
