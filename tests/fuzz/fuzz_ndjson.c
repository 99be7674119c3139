/*
 * fuzz_ndjson.c: libFuzzer harness for the NDJSON stream reader (the input layout and the
 * checks are in fuzz_common_readers.h). Seeds: tests/fuzz/corpus/ndjson/.
 *
 * Not here: other formats (fuzz_csv.c, fuzz_json.c, fuzz_ndjson.c each take one).
 */
#include "fuzz_common_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_run(CEL_FMT_NDJSON, data, size);
}
