#!/bin/sh
# The library as a user gets it: `cmake --install` into a temporary prefix,
# the prefix then moved elsewhere (pipe.pc must be relocatable), and with
# nothing but pkg-config (PKG_CONFIG_PATH set to the prefix) the README's
# library hello-world and pipelines/etl_drop_empty.c are compiled, linked
# and run on real files.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -eu
build=$1 src=$2 extra=${3:-}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
mv "$tmp/prefix" "$tmp/moved"
pc=$(find "$tmp/moved" -name pipe.pc)
[ -n "$pc" ] || { echo "no pipe.pc installed"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
grep -q '/usr/local' "$pc" && { echo "pipe.pc names a fixed prefix:"; cat "$pc"; exit 1; }
flags=$(pkg-config --cflags --libs pipe)
echo "pkg-config --cflags --libs pipe: $flags"
case "$flags" in *-luv*) ;; *) echo "libuv missing from --libs"; exit 1 ;; esac

# The README's example, exactly as printed: the first C block of
# "## The library".
awk '/^## The library/ { lib = 1 }
     lib && /^```c$/ { code = 1; next }
     code && /^```$/ { exit }
     code { print }' "$src/README.md" > "$tmp/hello.c"
grep -q 'pipe_pipeline_run' "$tmp/hello.c" || { echo "README example not found"; exit 1; }
# -Wall -Werror: the example must be complete C (its #includes), not only link.
$cc -Wall -Werror $extra "$tmp/hello.c" -o "$tmp/hello" $flags
$cc -Wall -Werror $extra "$src/pipelines/etl_drop_empty.c" -o "$tmp/etl" $flags

LD_LIBRARY_PATH=$(pkg-config --variable=libdir pipe)
export LD_LIBRARY_PATH
cd "$tmp"
printf 'name,email\nada,ada@example.org\nbob,\n' > big.csv
./hello
printf '{"name":"ada","email":"ada@example.org"}\n{"name":"bob","email":""}\n' > want.json
cmp big.json want.json || { echo "hello: wrong output"; cat big.json; exit 1; }
./etl big.csv out.json email
printf '{"name":"ada","email":"ada@example.org"}\n' > want2.json
cmp out.json want2.json || { echo "etl_drop_empty: wrong output"; cat out.json; exit 1; }
# The programs ran against the installed library, not the build tree's.
ldd ./hello | grep -q "$tmp/moved" || { echo "not linked to the installed libpipe"; ldd ./hello; exit 1; }
echo "ok: README example and etl_drop_empty built with pkg-config and ran"
