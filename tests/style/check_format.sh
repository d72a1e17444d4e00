#!/usr/bin/env bash
# check_format.sh: every tracked C file is clang-formatted (.clang-format),
# as the house style asks; registered with ctest as style/clang-format.
set -euo pipefail
cd "${CW_SRC:-$(dirname "$0")/../..}"
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 1; }
bad=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find include src tests fuzz bench -name '*.[ch]')
for f in $files; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not clang-formatted: $f (run: clang-format -i $f)"
        bad=$((bad + 1))
    fi
done
n=$(echo "$files" | wc -w)
echo "$n files checked, $bad not formatted"
[ "$bad" -eq 0 ]
