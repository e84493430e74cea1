# Shared by the bench scripts (sourced): needs $RES and $ROOT.

# timed NAME CMD... : /usr/bin/time -v into $RES/NAME.time, output into $RES/NAME.log;
# prints "wall cpu rss_mb" (wall/cpu with ${TIMED_DIGITS:-2} decimals).
timed() {
  local name="$1"; shift
  /usr/bin/time -v -o "$RES/$name.time" "$@" > "$RES/$name.log" 2>&1 || { echo "FAILED: $name (see $RES/$name.log)" >&2; cat "$RES/$name.log" >&2; }
  python3 "$ROOT/benches/time_v.py" "$RES/$name.time" "${TIMED_DIGITS:-2}"
}

# ensure_stitch: sets STITCH to the release binary, building it (after .ci/setup.sh installs
# nasm and ffmpeg) unless STITCH is already set; ffmpeg is installed either way (fixtures and
# the oracle need it).
ensure_stitch() {
  if [[ -z "${STITCH:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$ROOT/.." && pwd)/target}"
    STITCH_FFMPEG_FEATURE=0 bash "$ROOT/.ci/setup.sh"
    cargo build --release --bin stitch --manifest-path "$ROOT/Cargo.toml" >&2
    STITCH="$CARGO_TARGET_DIR/release/stitch"
  else
    command -v ffmpeg >/dev/null || STITCH_FFMPEG_FEATURE=0 bash "$ROOT/.ci/setup.sh"
  fi
}
