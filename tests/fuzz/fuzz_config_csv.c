/* libFuzzer entry for the config_csv harness (tests/fuzz/harness.c). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sb_fuzz_config_csv(data, size);
}
