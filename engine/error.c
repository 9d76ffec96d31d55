#include "slimbench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sb_status_str(sb_status s)
{
    static const char *const text[] = {
#define SB_X(name, t) [name] = t,
        SB_STATUS_LIST(SB_X)
#undef SB_X
    };
    if ((unsigned)s >= sizeof text / sizeof text[0])
        return "unknown status";
    return text[s];
}

sb_status sb_error_set(sb_error *e, sb_status s, const char *fmt, ...)
{
    if (!e || e->status != SB_OK)
        return e ? e->status : s;
    e->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return s;
}

void sb_error_prefix(sb_error *e, const char *fmt, ...)
{
    if (!e)
        return;
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof e->msg)
        memcpy(e->msg + n, old, sizeof e->msg - (size_t)n - 1);
    e->msg[sizeof e->msg - 1] = 0;
}

int64_t sb_shape_count(const sb_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

void sb_tensor_free(sb_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
}

const char *sb_shape_str(const sb_shape *s, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < s->rank && used < n; i++) {
        int w = s->dim[i] < 0 ? snprintf(buf + used, n - used, "%s?", i ? "x" : "")
                              : snprintf(buf + used, n - used, "%s%lld", i ? "x" : "",
                                         (long long)s->dim[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (s->rank == 0)
        snprintf(buf, n, "scalar");
    return buf;
}
