#!/bin/sh
# check-layers.sh -- includes follow the data flow: each src/ folder includes only the folders
# below it (notes/style.md). preload is the composition root and may include anything.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
allowed() {
    case $1 in
        base) echo "base" ;;
        go|ring) echo "base $1" ;;
        unwind|symbolize) echo "base go $1" ;;
        sample) echo "base unwind ring go $1" ;;
        collect) echo "base ring $1" ;;
        output) echo "base collect symbolize ring $1" ;;
        preload) echo "base go ring sample unwind collect symbolize output preload" ;;
        # the goprof command (and its man page helper): reads profiles and the config table
        cli) echo "base output preload cli" ;;
    esac
}
status=0
for dir in "$top"/src/*/; do
    layer=$(basename "$dir")
    ok=$(allowed "$layer")
    for f in "$dir"*.[ch]; do
        for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*"/\1/p' "$f"); do
            case " $ok " in *" $inc "*) ;; *)
                echo "check-layers: $f ($layer) includes $inc/" >&2; status=1 ;;
            esac
        done
    done
done
[ $status = 0 ] && echo "check-layers: every include goes down the layers"
exit $status
