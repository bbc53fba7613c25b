#!/bin/sh
# check-layers.sh -- the tree is the architecture (docs/architecture.md): every file under src/
# says which process it runs in, and every #include goes where its folder may go.
#   scripts/check-layers.sh [SRCDIR [FILE...]]  (default: the repository's src/, every file;
#                                               FILEs: only these, relative to SRCDIR)
#   scripts/check-layers.sh --self-test  (plants violations in a copy of src/: each must fail)
#
# Folders and their Context: (line 2 or 3 of each file, first word; a file runs in one process,
# so no other process may follow it outside parentheses, e.g. "signal (handler), collector"):
#   src/program/*   signal | program   runs inside the profiled program
#   src/collector   collector          the collector process
#   src/goprof      goprof | build     the goprof command (and mkman, run by make)
#   src/lib/*       library            usable from any process
# Includes are written from src/ ("lib/base/log.h"), the one form; any other form ("log.h",
# "../base/log.h") is resolved the way the compiler would (next to the file first) and then
# reported as well. "goprof.h" is the public header (include/).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = --self-test ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    plant() {   # plant FILE LINE-TO-ADD WHAT: the check must fail on the planted copy
        rm -rf "$tmp/src" && cp -r "$top/src" "$tmp/src"
        printf '%s\n' "$2" >>"$tmp/src/$1"
        if "$0" "$tmp/src" "$1" >/dev/null 2>&1; then
            echo "check-layers: self-test: $3 was not caught" >&2
            return 1
        fi
    }
    sed_ctx() {  # a file whose Context names another process
        rm -rf "$tmp/src" && cp -r "$top/src" "$tmp/src"
        sed -i '2s/Context: library/Context: collector/' "$tmp/src/lib/base/log.c"
        if "$0" "$tmp/src" lib/base/log.c >/dev/null 2>&1; then
            echo "check-layers: self-test: a wrong Context line was not caught" >&2
            return 1
        fi
    }
    sed_two() {  # sed_two SED-EXPR FILE: a Context line naming a second process
        rm -rf "$tmp/src" && cp -r "$top/src" "$tmp/src"
        sed -i "$1" "$tmp/src/$2"
        if cmp -s "$top/src/$2" "$tmp/src/$2" || "$0" "$tmp/src" "$2" >/dev/null 2>&1; then
            echo "check-layers: self-test: two processes in $2's Context were not caught" >&2
            return 1
        fi
    }
    "$0" >/dev/null &&
        plant lib/ring/ring.c '#include "collector/profmap.h"' "lib including the collector" &&
        plant collector/profmap.c '#include "program/sample/sample.h"' "collector including the program" &&
        plant program/preload/preload.c '#include "collector/session.h"' \
            "the program including a collector header other than its entry" &&
        plant goprof/record.c '#include "../collector/report.h"' "a relative include upwards" &&
        plant lib/base/log.c '#  include   "../ring/ring.h"' "a spaced relative include sideways" &&
        plant lib/pprof/folded.c '#include "strtab.h"' "a bare include (not written from src/)" &&
        plant lib/elf/elf_file.c '#include <collector/maps.h>' "an angle-bracket include upwards" &&
        sed_ctx &&
        sed_two '2s/Context: collector/Context: collector (drain), program (constructor)/' \
            collector/profmap.c &&
        sed_two '2s/Context: library/Context: library (program), collector/' lib/base/log.c &&
        sed_two '2s/Context: signal/Context: signal (handler), collector (ring drain)/' \
            program/sample/handler.c &&
        sed_two '2s/Context: program/Context: program, goprof/' \
            program/preload/exit_hook_amd64.S &&
        plant program/preload/exit_hook_amd64.S '#include "collector/session.h"' \
            "an include in an assembly file" &&
        echo "check-layers: self-test: 13 planted violations caught"
    exit
fi

src=${1:-$top/src}
[ $# -gt 0 ] && shift
set -f   # "lib/*" in the table is a pattern for case, never a glob
# May include: the folders a folder's files may include (itself always).
allowed() {
    case $1 in
        lib/base) echo "" ;;
        lib/elf | lib/ring | lib/pprof | lib/outname | lib/tree) echo "lib/base" ;;
        lib/go) echo "lib/base lib/elf" ;;
        lib/config) echo "lib/base lib/outname" ;;
        program/unwind) echo "lib/base lib/go" ;;
        program/sample) echo "lib/base lib/ring program/unwind" ;;
        # the constructor: everything of the program and of lib, and the collector's entry
        program/preload) echo "lib/* program/* collector/collector.h" ;;
        collector) echo "lib/*" ;;
        goprof) echo "lib/*" ;;
        *) echo "?" ;;
    esac
}
contexts() {
    case $1 in
        program/*) echo "signal program" ;;
        collector) echo "collector" ;;
        goprof) echo "goprof build" ;;
        lib/*) echo "library" ;;
    esac
}
# folder_of PATH: sets fold to the folder of a path relative to src/: lib/x and program/x are
# two levels, the rest one. Without a subshell or a command: it runs for every include, and the
# self-test runs the whole check 14 times.
folder_of() {
    case $1 in
        lib/* | program/*) fold=${1#*/}; fold=${1%%/*}/${fold%%/*} ;;
        *) fold=${1%%/*} ;;
    esac
}

status=0
if [ $# -gt 0 ]; then
    files=$*   # only these (the self-test's planted file)
else
    files=$(cd "$src" && find . -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' -o -name '*.proto' \) |
        sed 's#^\./##' | sort)
fi
for rel in $files; do
    folder_of "$rel"
    dir=$fold
    ok=$(allowed "$dir")
    if [ "$ok" = "?" ]; then
        echo "check-layers: src/$rel is in no known folder ($dir)" >&2
        status=1
        continue
    fi
    line=$(sed -n '2,3p' "$src/$rel" | sed -n 's#^ *\(\*\|//\) Context: ##p' | head -n1)
    ctx=$(echo "$line" | sed -n 's#^\([a-z]*\).*#\1#p')
    case " $(contexts "$dir") " in
        *" $ctx "*) ;;
        *) echo "check-layers: src/$rel says 'Context: ${ctx:-(none)}', not one of" \
               "'$(contexts "$dir")' ($dir)" >&2
           status=1 ;;
    esac
    # After the first word, outside parentheses (which may run on to the next line), only
    # ", signal-safe" may follow: a second process word means a file serving two processes.
    rest=$(echo "$line" | sed 's/([^)]*)//g; s/(.*$//; s/^[a-z]*//; s/, *signal-safe\b//')
    if echo "$rest" | grep -qwE 'signal|program|collector|goprof|library|build|tests'; then
        echo "check-layers: src/$rel names more than one process: 'Context: $line'" >&2
        status=1
    fi
    # Every include, however spaced: with quotes, and with angle brackets when it names a file
    # of src/ (<lib/base/log.h> reaches src/ through -I as well). A system header is left be.
    for inc in $(sed -n -e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' \
            -e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/<\1/p' "$src/$rel"); do
        [ "$inc" = goprof.h ] && continue
        case $inc in
            "<"*) inc=${inc#<}
                  [ -f "$src/$inc" ] || continue
                  echo "check-layers: src/$rel includes <$inc>: write it with quotes" >&2
                  status=1 ;;
        esac
        here=${rel%/*}
        if [ -f "$src/$here/$inc" ]; then
            target=$(cd "$src/$here" && realpath --relative-to="$src" "$inc")
        elif [ -f "$src/$inc" ]; then
            target=$inc
        elif [ "$(basename "$inc")" = profile.pb-c.h ]; then
            target=lib/pprof/profile.pb-c.h   # generated into the build tree
        else
            echo "check-layers: src/$rel includes \"$inc\", which is not under src/" >&2
            status=1
            continue
        fi
        if [ "$inc" != "$target" ]; then
            echo "check-layers: src/$rel includes \"$inc\": write it from src/, \"$target\"" >&2
            status=1
        fi
        folder_of "$target"
        tdir=$fold
        [ "$tdir" = "$dir" ] && continue
        pass=0
        for a in $ok; do
            # shellcheck disable=SC2254
            case $tdir in $a) pass=1 ;; esac
            [ "$target" = "$a" ] && pass=1
        done
        if [ $pass = 0 ]; then
            echo "check-layers: src/$rel ($dir) includes $target; $dir may include only:" \
                "${ok:-nothing else}" >&2
            status=1
        fi
    done
done
[ $status = 0 ] && echo "check-layers: $(echo "$files" | wc -l) files: every Context names its" \
    "folder's process, every include goes down the layers"
exit $status
