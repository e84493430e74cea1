#!/usr/bin/env bash
# The main job end to end on bundled data: compile testdata/flow_basic.json (eight clips:
# MP4 with B-frames, another resolution, M4A, video-only, MPEG-TS, fragmented MP4, raw
# ADTS; gaps and overlaps) into out/basic.mp4, then show what an independent prober sees.
set -euo pipefail
cd "$(dirname "$0")/.."
STITCH_FFMPEG_FEATURE=0 bash .ci/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
cargo build --release --bin stitch
mkdir -p out
"$CARGO_TARGET_DIR/release/stitch" compile testdata/flow_basic.json -o out/basic.mp4 "$@"
ffprobe -v error -show_entries stream=codec_name,width,height,sample_rate,channels,duration -of compact out/basic.mp4
