#!/usr/bin/env bash
# Builds libdistill_ops.so (the C-shim kernels, distill_ops.c). The trainer's Maven build runs it at
# process-classes with --optional, writing target/classes/native/linux-x86_64/libdistill_ops.so (a
# resource of the trainer jar, which NativeKernels extracts and loads after DJL's libtorch).
#
#   trainer/src/main/native/build.sh [--optional] [OUT_FILE]
#       (default OUT_FILE: trainer/target/classes/native/linux-x86_64/libdistill_ops.so)
#
# --optional: without gcc, or on a machine other than Linux x86-64, print one warning line and exit 0
# (the jar then has no library and NativeKernels reports it unavailable); without it, exit 1.
#
# Needs no libtorch at build time: the library is linked against two empty stub shared objects made
# here, carrying the sonames of DJL's libtorch_cpu.so (soname libtorch_cpu.so) and of its bundled
# libgomp-<hash>.so.1 (soname libgomp.so.1). So the library NEEDs exactly libtorch_cpu.so,
# libgomp.so.1 and libc.so.6, has no RPATH/RUNPATH, and its aoti_torch_*, GOMP_* and omp_* symbols
# are left undefined: at System.load the dynamic loader matches those sonames against the libtorch
# and libgomp DJL already loaded into the JVM, so the kernels run on libtorch's own OpenMP runtime
# (thread count set by DJL's ai.djl.pytorch.num_threads), never on a second one. -z now binds every
# symbol at load, so a libtorch lacking one fails System.load (an UnsatisfiedLinkError) instead of
# killing the JVM at the first call; the check after the link fails the build on any undefined
# symbol other than those three families (what --no-undefined caught when it linked the real ones).
#
# -march=x86-64-v3 (AVX2 + FMA, any x86-64 CPU since 2013-2015) rather than -march=native: this
# machine has AVX-512, a CI or worker machine may not. DISTILL_OPS_MARCH overrides it (NativeKernels
# checks the CPU for x86-64-v3's flags only: a higher -march is for a machine known to have them).
set -euo pipefail
optional=0
if [ "${1:-}" = "--optional" ]; then
  optional=1
  shift
fi
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../../target/classes/native/linux-x86_64/libdistill_ops.so}"

skip() {
  if [ "$optional" = 1 ]; then
    echo "[WARNING] build.sh: $1: libdistill_ops.so not built; the fused CPU kernels will be unavailable" >&2
    exit 0
  fi
  echo "build.sh: $1" >&2
  exit 1
}
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || skip "not Linux x86-64 ($(uname -s)-$(uname -m))"
command -v gcc >/dev/null 2>&1 || skip "gcc not found (apt-get install gcc)"

march="${DISTILL_OPS_MARCH:-x86-64-v3}"
work="$here/../../../target/native" # the stubs and object: beside the classes, not in the jar
mkdir -p "$work" "$(dirname "$out")"
# Up to date: same sources and flags as the last build (the stamp holds them).
stamp="$work/stamp"
want="$(cat "$here/distill_ops.c" "$0" | sha256sum | cut -d' ' -f1) $march"
if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

# The stubs: empty, only their sonames matter. Making them also shows that this gcc can link a
# shared object and has the C library's and OpenMP's headers (gcc without libc6-dev cannot).
printf '#include <math.h>\n#include <omp.h>\n#include <stdio.h>\n' > "$work/empty.c"
gcc -fopenmp -fsyntax-only "$work/empty.c" 2>/dev/null \
  && gcc -shared -fPIC -o "$work/libtorch_cpu.so" "$work/empty.c" -Wl,-soname,libtorch_cpu.so 2>/dev/null \
  && gcc -shared -fPIC -o "$work/libgomp.so.1" "$work/empty.c" -Wl,-soname,libgomp.so.1 2>/dev/null \
  || skip "gcc cannot build a shared object with <math.h>, <omp.h> and <stdio.h> (apt-get install gcc libc6-dev)"

# -fno-trapping-math -fno-math-errno: the element-wise loops vectorize only without them (no code
# here reads the floating-point exception flags or errno); not -ffast-math, which would reassociate.
# -fopenmp compiles the pragmas; the link names the libgomp stub instead of gcc's (no -fopenmp there).
gcc -std=gnu11 -O3 -march="$march" -fno-trapping-math -fno-math-errno -fPIC -fopenmp -fexceptions -Wall -Wextra -Wno-unused-parameter \
  -c "$here/distill_ops.c" -o "$work/distill_ops.o"
# --no-as-needed: the stubs define nothing, so --as-needed (Debian's default) would drop their NEEDED.
gcc -shared -o "$work/libdistill_ops.so" "$work/distill_ops.o" \
  -L"$work" -Wl,--no-as-needed -l:libtorch_cpu.so -l:libgomp.so.1 -Wl,--as-needed -lm \
  -Wl,-z,now -Wl,--allow-shlib-undefined

# Every undefined symbol the link left unversioned must be libtorch's shim or OpenMP's (libc's and
# libm's were bound at link time and carry their GLIBC_* version).
stray="$(nm -D --undefined-only "$work/libdistill_ops.so" | awk '$1 == "U" && $2 !~ /@/ {print $2}' \
  | grep -Ev '^(aoti_torch_|GOMP_|omp_)' || true)"
if [ -n "$stray" ]; then
  echo "build.sh: undefined symbols neither libtorch's shim nor OpenMP's: $(echo $stray)" >&2
  exit 1
fi
mv "$work/libdistill_ops.so" "$out"
echo "$want" > "$stamp"
[ "$optional" = 1 ] || echo "$out"
