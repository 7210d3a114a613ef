#!/usr/bin/env bash
# Builds and runs the CUDA kernels' tests on the CPU (cuda_host.hpp emulates what they use of
# CUDA): needs only g++ >= 12. Exit status 0 when every check passes.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -std=c++20 -O1 -pthread -Wall -Wno-unused-function -Wno-unknown-pragmas -o "$out/kernels_test" kernels_test.cpp
"$out/kernels_test"
