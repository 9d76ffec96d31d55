/* Internal: ONNX TensorProto → sb_tensor, shared by the model loader and the conformance tests. */
#ifndef SB_ONNX_TENSOR_H
#define SB_ONNX_TENSOR_H

#include "slimbench.h"

struct Onnx__TensorProto;

sb_status sb_dtype_from_onnx(int onnx_type, sb_dtype *dt, const char *what, sb_error *err);
/* Converts (copies) t; t's declared size is checked against the data it really holds. */
sb_status sb_tensor_from_onnx(const struct Onnx__TensorProto *t, sb_tensor *out, sb_error *err);
/* The same, but a raw float32/int64 payload is moved out of t instead of copied (t loses it):
 * the model loader never holds two copies of a weight. */
sb_status sb_tensor_take_onnx(struct Onnx__TensorProto *t, sb_tensor *out, sb_error *err);
/* Decodes a serialized TensorProto (an ONNX test's input_0.pb). */
sb_status sb_tensor_from_pb(const void *buf, size_t len, const char *name, sb_tensor *out,
                            sb_error *err);

#endif
