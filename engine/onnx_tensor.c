#include "onnx_tensor.h"

#include "graph.h"
#include "onnx.pb-c.h"

#include <stdlib.h>
#include <string.h>

static const char *onnx_type_name(int t)
{
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",   "INT8",    "UINT16",
                                        "INT16",     "INT32",  "INT64",   "STRING",  "BOOL",
                                        "FLOAT16",   "DOUBLE", "UINT32",  "UINT64",  "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

sb_status sb_dtype_from_onnx(int onnx_type, sb_dtype *dt, const char *what, sb_error *err)
{
    if (onnx_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        *dt = SB_F32;
    else if (onnx_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
             onnx_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
        *dt = SB_I64;
    else
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "'%s' has element type %s; only float32 (and int64/int32 for shapes) "
                            "is supported",
                            what ? what : "", onnx_type_name(onnx_type));
    return SB_OK;
}

static sb_status read_dims(const Onnx__TensorProto *t, const char *name, sb_shape *s,
                           int64_t *count, sb_error *err)
{
    if (t->n_dims > SB_MAX_RANK)
        return sb_error_set(err, SB_ERR_UNSUPPORTED, "tensor '%s' has rank %zu (max %d)", name,
                            t->n_dims, SB_MAX_RANK);
    memset(s, 0, sizeof *s);
    s->rank = (int)t->n_dims;
    *count = 1;
    for (int i = 0; i < s->rank; i++) {
        if (t->dims[i] < 0)
            return sb_error_set(err, SB_ERR_FORMAT, "tensor '%s': dimension %d is negative (%lld)",
                                name, i, (long long)t->dims[i]);
        if (t->dims[i] > SB_MAX_DIM)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "tensor '%s': dimension %d is %lld, over the limit of %lld; the "
                                "file is corrupt",
                                name, i, (long long)t->dims[i], (long long)SB_MAX_DIM);
        s->dim[i] = t->dims[i];
    }
    if (!sb_shape_within_limits(s)) {
        char buf[160];
        return sb_error_set(err, SB_ERR_FORMAT,
                            "tensor '%s': shape %s holds more than %lld elements; the file is "
                            "corrupt",
                            name, sb_shape_str(s, buf, sizeof buf), (long long)SB_MAX_ELEMS);
    }
    *count = sb_shape_count(s);
    return SB_OK;
}

/* Checks that the payload holds exactly the `count` elements the dims declare: done before
 * anything is allocated, so a header declaring a huge tensor costs nothing. */
static sb_status check_payload(const Onnx__TensorProto *t, const char *name, sb_dtype dt,
                               int64_t count, sb_error *err)
{
    int is32 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    size_t src_elem = dt == SB_F32 || is32 ? 4 : 8;
    if (count == 0) /* an empty tensor: nothing to copy (and its data pointers may be NULL) */
        return SB_OK;
    if (t->has_raw_data) {
        if (t->raw_data.len / src_elem != (size_t)count || t->raw_data.len % src_elem)
            return sb_error_set(err, SB_ERR_FORMAT,
                                "tensor '%s': declares %lld elements (%lld bytes) but holds %zu "
                                "bytes; the file is truncated or corrupt",
                                name, (long long)count, (long long)(count * (int64_t)src_elem),
                                t->raw_data.len);
        return SB_OK;
    }
    size_t have = dt == SB_F32 ? t->n_float_data : is32 ? t->n_int32_data : t->n_int64_data;
    if (have != (size_t)count)
        return sb_error_set(err, SB_ERR_FORMAT,
                            "tensor '%s': declares %lld elements but holds %zu; the file is "
                            "truncated or corrupt",
                            name, (long long)count, have);
    return SB_OK;
}

/* Copies the checked payload into dst (count elements of the engine type). */
static void copy_payload(const Onnx__TensorProto *t, sb_dtype dt, int64_t count, void *dst)
{
    int is32 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (count == 0)
        return;
    if (t->has_raw_data && !is32)
        memcpy(dst, t->raw_data.data, t->raw_data.len); /* little-endian host */
    else if (t->has_raw_data)
        for (int64_t i = 0; i < count; i++) {
            int32_t v;
            memcpy(&v, t->raw_data.data + 4 * i, 4);
            ((int64_t *)dst)[i] = v;
        }
    else if (dt == SB_F32)
        memcpy(dst, t->float_data, (size_t)count * 4);
    else if (!is32)
        memcpy(dst, t->int64_data, (size_t)count * 8);
    else
        for (int64_t i = 0; i < count; i++)
            ((int64_t *)dst)[i] = t->int32_data[i];
}

sb_status sb_tensor_from_onnx(const Onnx__TensorProto *t, sb_tensor *out, sb_error *err)
{
    const char *name = t->name ? t->name : "";
    memset(out, 0, sizeof *out);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "tensor '%s' is stored in an external data file, which is not "
                            "supported; re-export the model as a single file",
                            name);
    if (t->segment)
        return sb_error_set(err, SB_ERR_UNSUPPORTED, "tensor '%s' is segmented", name);
    sb_status s = sb_dtype_from_onnx(t->data_type, &out->dtype, name, err);
    int64_t count = 0;
    if (s || (s = read_dims(t, name, &out->shape, &count, err)) ||
        (s = check_payload(t, name, out->dtype, count, err)))
        return s;
    size_t elem = out->dtype == SB_F32 ? 4 : 8;
    out->data = malloc((size_t)count * elem + 1);
    if (!out->data)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory for tensor '%s' (%lld elements)",
                            name, (long long)count);
    copy_payload(t, out->dtype, count, out->data);
    return SB_OK;
}

sb_status sb_tensor_take_onnx(Onnx__TensorProto *t, sb_tensor *out, sb_error *err)
{
    bool raw64 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                 t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    bool external =
        t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (!raw64 || external || t->segment || !t->has_raw_data || !t->raw_data.data)
        return sb_tensor_from_onnx(t, out, err);
    const char *name = t->name ? t->name : "";
    memset(out, 0, sizeof *out);
    int64_t count = 0;
    sb_status s = sb_dtype_from_onnx(t->data_type, &out->dtype, name, err);
    if (s || (s = read_dims(t, name, &out->shape, &count, err)))
        return s;
    if (count == 0 || t->raw_data.len != (size_t)count * (out->dtype == SB_F32 ? 4 : 8))
        return sb_tensor_from_onnx(t, out, err); /* copies, or reports the size mismatch */
    out->data = t->raw_data.data; /* malloc'd by protobuf-c's default allocator */
    t->raw_data.data = NULL;
    t->raw_data.len = 0;
    t->has_raw_data = 0;
    return SB_OK;
}

sb_status sb_tensor_from_pb(const void *buf, size_t len, const char *name, sb_tensor *out,
                            sb_error *err)
{
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!t)
        return sb_error_set(err, SB_ERR_FORMAT, "%s: not a valid TensorProto", name);
    sb_status s = sb_tensor_from_onnx(t, out, err);
    onnx__tensor_proto__free_unpacked(t, NULL);
    return s;
}
