#!/usr/bin/env bash
# The layer check (issue 13): every module imports only its own layer or
# lower ones, so the folder list reads as the architecture. Usage:
#   scripts/check-layers.sh [SRC_DIR]     (default: src/ of this checkout)
# Prints one line per upward import, e.g.
#   src/store/mod.rs:72 imports crate::server (store may import: rr rdata ...)
# and exits 1 if there is any. Comment lines are not read (doc links may
# point anywhere); every other `crate::a::b` path is, tests included.
set -euo pipefail

src=${1:-"$(dirname "${BASH_SOURCE[0]}")/../src"}

# Lowest first. A module is named by its path under src/ (`store::committer`
# is src/store/committer.rs); a file or a `crate::` path belongs to the
# longest name listed that is a prefix of it. Same-layer imports are allowed
# (the pure cores are peers), except in the layers below marked in ONE_WAY
# and NO_SIDEWAYS.
layers=(
    # Pure cores: no tokio, git2, std::fs or sockets; the clock passed in.
    # `config` and `keygen` are pure too (text in, values out); `git` is the
    # one I/O module here: the low-level git2 calls, importing nothing.
    "rr rdata rcode request response zonefile zone answer fallback update policy tsig serial xfr ixfr notify expire keygen config git"
    # The counters every layer bumps (`/metrics`); imports no crate module.
    "metrics"
    # The recorder: the git committer thread and its commit messages. It
    # lives in store/ (the one place that records to git) but imports only
    # the pure cores and git, as `served` holds its handle; the write log
    # it empties once its records are committed.
    "store::committer store::audit store::writelog"
    # The served state and what reads zone files and their git history.
    "served loader journal"
    # NOTIFY sending, triggered by the store and the watcher.
    "notify_out"
    # The one write path.
    "store"
    # Edge support: guards both network edges share.
    "edge"
    # The edges.
    "server rest watch edit"
    # The composition root that starts every edge. `main` (src/main.rs,
    # the binary) sits above and is not read.
    "serve ctl"
)
# Pairs of peers where imports go one way only: "a>b" means a may import b
# but b may not import a.
one_way="rdata>rr answer>response response>request tsig>request update>request"
# In this layer members may not import each other (an edge imports no
# edge), except the pairs listed in sideways_ok ("a>b": a may import b).
no_sideways="server rest watch edit"
sideways_ok=""

name=$(basename "$src")
find "$src" -name '*.rs' ! -path "$src/lib.rs" ! -path "$src/main.rs" | sort |
    while read -r file; do
        rel=${file#"$src"/}
        mod=${rel%.rs}
        mod=${mod%/mod}
        mod=${mod//\//::}
        grep -nE 'crate::[a-z_0-9]+|super::[A-Za-z_]' "$file" | grep -vE '^[0-9]+:[[:space:]]*//' |
            sed "s|^|$name/$rel $mod |" || true
    done |
    awk -v layers="$(printf '%s\n' "${layers[@]}")" -v one_way="$one_way" \
        -v no_sideways="$no_sideways" -v sideways_ok="$sideways_ok" '
    BEGIN {
        n = split(layers, L, "\n")
        for (i = 1; i <= n; i++) {
            m = split(L[i], names, " ")
            for (j = 1; j <= m; j++) layer[names[j]] = i
        }
        split(one_way, ow, " ")
        for (k in ow) { split(ow[k], p, ">"); forbidden[p[2] SUBSEP p[1]] = 1 }
        split(no_sideways, ns, " ")
        for (k in ns) strict[ns[k]] = 1
        split(sideways_ok, so, " ")
        for (k in so) { split(so[k], p, ">"); allowed[p[1] SUBSEP p[2]] = 1 }
        bad = 0
    }
    # The longest listed name that prefixes a module path (a::b::c).
    function owner(path,    parts, k, i, cand, best) {
        k = split(path, parts, "::")
        cand = ""; best = ""
        for (i = 1; i <= k; i++) {
            cand = (i == 1) ? parts[1] : cand "::" parts[i]
            if (cand in layer) best = cand
        }
        return best
    }
    function up(path) {
        if (path !~ /::/) return ""
        sub(/::[^:]*$/, "", path)
        return path
    }
    function may(lay,    out, i) {
        out = ""
        for (i = 1; i <= lay; i++) out = out (out == "" ? "" : " ") L[i]
        return out
    }
    {
        # "src/a/b.rs a::b LINE:TEXT"
        file = $1; mod = $2
        text = $0; sub(/^[^ ]* [^ ]* /, "", text)
        line = text; sub(/:.*/, "", line)
        text = substr(text, length(line) + 2)
        from = owner(mod)
        if (from == "") {
            if (!(file in told)) printf "%s: module %s is in no layer (add it to scripts/check-layers.sh)\n", file, mod
            told[file] = 1; bad = 1; next
        }
        while (match(text, /crate::[a-z_0-9]+(::[a-z_0-9]+)*|super(::super)*::[A-Za-z_0-9]+(::[a-z_0-9]+)*/)) {
            path = substr(text, RSTART, RLENGTH)
            text = substr(text, RSTART + RLENGTH)
            if (path ~ /^super::/) {
                # Read as written at the top of the file (inline test
                # modules use `super::*`, which is not read).
                base = up(mod)
                sub(/^super::/, "", path)
                while (path ~ /^super::/) { sub(/^super::/, "", path); base = up(base) }
                if (base == "") continue
                path = base "::" path
            } else {
                sub(/^crate::/, "", path)
            }
            to = owner(path)
            if (to == "" || to == from) continue
            if (layer[to] > layer[from]) {
                printf "%s:%s imports crate::%s (%s may import: %s)\n", file, line, to, from, may(layer[from])
                bad = 1
            } else if ((from SUBSEP to) in forbidden) {
                printf "%s:%s imports crate::%s (one way only: %s may not import %s)\n", file, line, to, from, to
                bad = 1
            } else if (layer[to] == layer[from] && (from in strict) && (to in strict) && !((from SUBSEP to) in allowed)) {
                printf "%s:%s imports crate::%s (an edge imports no other edge: %s may import: %s)\n", file, line, to, from, may(layer[from] - 1)
                bad = 1
            }
        }
    }
    END { exit bad }'
