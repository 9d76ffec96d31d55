/* Fuzz harnesses: one function per parser, shared by the libFuzzer entry points
 * (tests/fuzz/fuzz_*.c, built by `make fuzz`) and the replay test (tests/test_fuzz_replay.c, part
 * of `make test`). Each feeds one input through the engine's public API and aborts when the
 * engine breaks a promise the sanitizers cannot see: a failure must come with a message that
 * names the file. */
#ifndef SB_FUZZ_HARNESS_H
#define SB_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

typedef int (*sb_fuzz_fn)(const uint8_t *data, size_t size);

/* ONNX model bytes: decode, build the graph, infer shapes, plan, layers and channel groups;
 * small models are also run once. */
int sb_fuzz_onnx(const uint8_t *data, size_t size);
/* A configuration CSV applied to tests/data/onnx/tiny_ok.onnx, the model the CSV fixtures in
 * tests/data/csv are written for (or $SB_FUZZ_MODEL), saved and
 * loaded again when it is accepted. */
int sb_fuzz_config_csv(const uint8_t *data, size_t size);
/* Dataset files. First byte: bit 0 = the rest is a labels file (beside a fixed 2-image images
 * file) rather than an images file; bit 1 = write the rest gzip-compressed. */
int sb_fuzz_idx(const uint8_t *data, size_t size);
int sb_fuzz_npy(const uint8_t *data, size_t size);

/* The harness for a target name ("onnx", "config_csv", "idx", "npy"), or NULL. */
sb_fuzz_fn sb_fuzz_target(const char *name);

#endif
