#!/usr/bin/env bash
# The whole test suite, from a fresh machine: setup, then the tests of the default build
# (no system media library) and of the `ffmpeg` feature build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
echo "== checks: module graph (no import cycle), functions under 80 lines, media's tests self-contained =="
python3 .ci/check_arch.py
python3 .ci/check_fn_len.py media/src/pipeline media/src/demux media/src/mux media/src/remux media/src/ts.rs \
  src/record src/download.rs src/hls src/http src/webinar.rs src/compile.rs src/main.rs
if grep -rnE '\.\./testdata|/work/' media/src media/tests media/examples 2>/dev/null | grep -v '^media/src/testutil.rs'; then
  echo "media reads files outside media/ (above): use crate::testutil" >&2; exit 1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
export CARGO_TERM_COLOR=never
echo "== default build =="
cargo test --workspace --no-fail-fast 2>&1
echo "== embedding example (media/examples/compile.rs) =="
ex_dir=$(mktemp -d)
cargo run -q -p media --example compile -- testdata/flow_basic.json "$ex_dir/basic.mp4"
ffprobe -v error -show_entries format=duration:stream=codec_name -of compact "$ex_dir/basic.mp4"
rm -rf "$ex_dir"
echo "== --features ffmpeg =="
cargo test --workspace --features ffmpeg --no-fail-fast 2>&1
