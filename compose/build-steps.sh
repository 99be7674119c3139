#!/usr/bin/env bash
# compose/build-steps.sh: the build stage of compose/Dockerfile, runnable on any Debian
# bookworm machine, so CI proves the image's build steps without a Docker engine.
#
# Usage: compose/build-steps.sh [--src DIR] [--build DIR] [--out DIR] [--jobs N] [--keep]
#   --src    repository root (default: this script's parent directory)
#   --build  cmake build directory (default: a new temporary directory, removed at exit)
#   --out    staging root for the runtime stage (default: a new temporary directory,
#            removed at exit unless --keep); receives usr/local/bin/celeriac and
#            usr/share/celeriac/migrations/*.sql
#   --jobs   parallel build jobs (default: nproc)
#
# Steps (the Dockerfile runs exactly these, with its ARG lists in the environment):
#   1. every package of BUILD_DEPS is installed (dpkg-query; nothing is installed here);
#   2. cmake -DCMAKE_BUILD_TYPE=Release -DCELERIAC_TESTS=OFF, build the `celeriac` target;
#   3. stage the binary and the migrations under --out;
#   4. check the runtime stage: `celeriac --version` runs, every shared library resolves
#      (ldd), and every library outside libc comes from a package in RUNTIME_DEPS
#      (dpkg -S), so the runtime image is not missing one;
#   5. `celeriac migrate --help` runs and the staged migrations directory is non-empty.
# BUILD_DEPS / RUNTIME_DEPS come from the environment, else from compose/Dockerfile's ARG
# lines (one definition). Exit status 0 only when every step passed.
#
# Not done here: installing packages, building or running containers, sanitizer/test builds
# (tests/run does those).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=""
OUT=""
KEEP=0
JOBS=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
    case $1 in
    --src) SRC=$(cd "$2" && pwd); shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-steps: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf 'build-steps: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

CLEAN=()
cleanup() {
    local d
    for d in "${CLEAN[@]}"; do rm -rf -- "$d"; done
}
trap cleanup EXIT
if [ -z "$BUILD" ]; then
    BUILD=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-image-build.XXXXXX")
    CLEAN+=("$BUILD")
fi
if [ -z "$OUT" ]; then
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-image-root.XXXXXX")
    [ "$KEEP" = 1 ] || CLEAN+=("$OUT")
fi

# The package lists: environment first (docker build passes its ARGs), else the Dockerfile.
dockerfile_arg() { # dockerfile_arg NAME: the quoted default of `ARG NAME="..."`
    sed -n "s/^ARG $1=\"\\(.*\\)\"\$/\\1/p" "$SRC/compose/Dockerfile" | head -n 1
}
if [ -z "${BUILD_DEPS:-}" ]; then BUILD_DEPS=$(dockerfile_arg BUILD_DEPS); fi
if [ -z "${RUNTIME_DEPS:-}" ]; then RUNTIME_DEPS=$(dockerfile_arg RUNTIME_DEPS); fi
[ -n "$BUILD_DEPS" ] || die "BUILD_DEPS is empty (not in the environment nor in compose/Dockerfile)"
[ -n "$RUNTIME_DEPS" ] || die "RUNTIME_DEPS is empty (not in the environment nor in compose/Dockerfile)"

# 1. build dependencies
log "1/5 build dependencies: $BUILD_DEPS"
missing=()
for p in $BUILD_DEPS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || die "packages not installed: ${missing[*]} (apt-get install -y ${missing[*]})"

# 2. configure + build (Release, no tests: cmocka is not a build dependency of the image)
log "2/5 cmake Release in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCELERIAC_TESTS=OFF \
    -DCELERIAC_SANITIZE=OFF -DCELERIAC_TEST_TASKS=OFF >&2
cmake --build "$BUILD" --target celeriac -j "$JOBS" >&2

# 3. stage the runtime layout
log "3/5 staging into $OUT"
install -d "$OUT/usr/local/bin" "$OUT/usr/share/celeriac/migrations"
install -m 0755 "$BUILD/celeriac" "$OUT/usr/local/bin/celeriac"
install -m 0644 "$SRC"/migrations-mirror/*.sql "$OUT/usr/share/celeriac/migrations/"
BIN="$OUT/usr/local/bin/celeriac"

# 4. runtime checks
log "4/5 runtime libraries (RUNTIME_DEPS: $RUNTIME_DEPS)"
"$BIN" --version >&2 || die "celeriac --version failed"
lddout=$(ldd "$BIN") || die "ldd $BIN failed"
if grep -q 'not found' <<<"$lddout"; then
    die "unresolved libraries: $(grep 'not found' <<<"$lddout" | tr -s ' \t' ' ')"
fi
unlisted=()
while read -r lib; do
    [ -n "$lib" ] || continue
    real=$(readlink -f "$lib")
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
    pkg=${pkg%%:*}
    case $pkg in
    libc6 | libgcc-s1 | "") continue ;; # in every Debian base image (or not a package file)
    esac
    listed=0
    for p in $RUNTIME_DEPS; do [ "$p" = "$pkg" ] && listed=1; done
    # Transitive libraries (libcurl -> libnghttp2 ...) come with the listed packages; only
    # the libraries celeriac links directly must be listed themselves.
    if [ "$listed" = 0 ] && readelf -d "$BIN" | grep -q "NEEDED.*\[$(basename "$lib")\]"; then
        unlisted+=("$(basename "$lib") ($pkg)")
    fi
done < <(awk '/=>/ {print $3}' <<<"$lddout")
[ ${#unlisted[@]} -eq 0 ] || die "linked directly but not in RUNTIME_DEPS: ${unlisted[*]}"

# 5. migrations
log "5/5 migrations"
n=$(find "$OUT/usr/share/celeriac/migrations" -name '*.sql' | wc -l)
[ "$n" -gt 0 ] || die "no migrations staged"
"$BIN" migrate --help >/dev/null 2>&1 || die "celeriac migrate --help failed"
log "ok: $BIN ($n migrations in $OUT/usr/share/celeriac/migrations)"
