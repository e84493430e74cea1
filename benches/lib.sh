# Shared by the bench scripts (sourced): needs $RES and $ROOT.

# timed NAME CMD... : /usr/bin/time -v into $RES/NAME.time, output into $RES/NAME.log;
# prints "wall cpu rss_mb" (wall/cpu with ${TIMED_DIGITS:-2} decimals).
timed() {
  local name="$1"; shift
  /usr/bin/time -v -o "$RES/$name.time" "$@" > "$RES/$name.log" 2>&1 || { echo "FAILED: $name (see $RES/$name.log)" >&2; cat "$RES/$name.log" >&2; }
  python3 "$ROOT/benches/time_v.py" "$RES/$name.time" "${TIMED_DIGITS:-2}"
}
