/*
 * fuzz_decide.c: libFuzzer target for the decide request parser.
 *
 * Build with clang (cmake -DCMAKE_C_COMPILER=clang; the target is made only
 * then) and run on the seed corpus:
 *   build-fuzz/fuzz_decide -max_len=4096 fuzz/corpus/decide
 * Inputs it finds that crash go into fuzz/corpus/decide/, where
 * fuzz/replay (ctest fuzz/replay_decide) runs them forever after.
 */
#include <stddef.h>
#include <stdint.h>

#include "decide_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cw_fuzz_decide_one(data, size);
    return 0;
}
