#!/usr/bin/env bash
# The ffmpeg CLI peer of `stitch compile --layout sidebar` (composite_bench.sh): ONE ffmpeg
# command with a filter graph that builds the same sidebar layout from the same inputs and
# times as the flow JSON.
#
# Usage: benches/composite_ffmpeg.sh FLOW.json OUT.mp4 [WxH]   (default 1280x720)
#   env FFMPEG_THREADS=N : passed as -threads N to libx264 (default: ffmpeg's own choice)
#
# A small Python prologue only reads the flow and the media's sizes/durations (ffprobe) and
# works out the layout the way media::compose does: main area = screen share > slide >
# presenter camera; tiles = the other cameras and the audio-only participants while they
# speak (the synthetic voices are continuous tones: their whole clip), in stable slots,
# presenters first; geometry = a port of layout::place (Sidebar) and scale::fit_rect.
# It writes the graph to OUT.graph.txt and runs one ffmpeg:
#   inputs: per (source, rectangle, time range) the source opened at that range
#     (-ss/-t; slides -loop 1 -framerate 1 -t D), so each decodes only what it shows;
#     per clip with sound the clip once more for its audio
#   graph: color 1280x720 black background; per range setpts to its timeline place,
#     scale, fps=25:start_time + trim=end (exactly its range), overlay eof_action=pass;
#     audio: adelay per clip, amix normalize=0; libx264 -preset veryfast + AAC 128k.
# It does LESS than stitch: no name labels, no name cards for the audio-only participants
# (their tile stays black), no soft limiter on the mix. (Checked against stitch on a 1-min
# set: same main area and tile geometry frame by frame, except for one frame at one change.)
set -euo pipefail
FLOW="$1"; OUT="$2"; SIZE="${3:-1280x720}"
GRAPH="$OUT.graph.txt"
mapfile -d '' ARGS < <(python3 - "$FLOW" "$OUT" "$SIZE" "$GRAPH" "${FFMPEG_THREADS:-}" <<'PY'
import json, os, subprocess, sys
flow_path, out, size, graph_path, threads = sys.argv[1:6]
W, H = (int(v) for v in size.lower().split("x"))
flow = json.load(open(flow_path))
base = os.path.dirname(os.path.abspath(flow_path))
T = float(flow["duration"])
FPS = 25
# stitch keeps a participant "speaking" 1 s after their voice goes quiet, but a clip that
# ends is retired at once: the synthetic voices are continuous tones, so an audio-only
# participant's card is shown for their clip (and one more frame: AAC padding, observed).
HOLD = 1.0 / FPS

probed = {}
def probe(path):
    if path not in probed:
        j = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,width,height",
             "-of", "json", path], check=True, capture_output=True, text=True).stdout)
        v = [s for s in j["streams"] if s["codec_type"] == "video"]
        a = [s for s in j["streams"] if s["codec_type"] == "audio"]
        probed[path] = dict(dur=float(j["format"].get("duration", 0) or 0),
                            w=v[0]["width"] if v else 0, h=v[0]["height"] if v else 0,
                            has_v=bool(v), has_a=bool(a))
    return probed[path]

# Sources: clips and slides, in input order.
srcs = []
evs = sorted(flow["eventLogs"], key=lambda e: e["relativeTime"])
slide_evs = [e for e in evs if e.get("module") == "slide.show"]
for e in evs:
    d, t = e.get("data", {}), float(e["relativeTime"])
    if e.get("module") == "slide.show":
        nxt = [float(s["relativeTime"]) for s in slide_evs if float(s["relativeTime"]) > t]
        end = t + float(d["duration"]) if d.get("duration") else (nxt[0] if nxt else T)
        p = os.path.join(base, d["image"]); info = probe(p)
        srcs.append(dict(kind="slide", path=p, start=t, end=min(end, T), w=info["w"], h=info["h"],
                         has_v=True, has_a=False, key=None, presenter=False))
    elif "url" in d:
        p = os.path.join(base, d["url"]); info = probe(p)
        kind = d.get("kind", "camera")
        user = d.get("userId")
        key = (f"screen:{user}" if kind == "screen" else f"user:{user}") if user else f"clip:{len(srcs)}"
        end = t + float(d.get("duration") or info["dur"])
        srcs.append(dict(kind=kind, path=p, start=t, end=min(end, T), w=info["w"], h=info["h"],
                         has_v=info["has_v"], has_a=info["has_a"], key=key,
                         presenter=d.get("role") in ("ADMIN", "LECTURER", "admin", "lecturer")))
for i, s in enumerate(srcs):
    s["id"] = i

# --- port of media::compose::layout::place (Sidebar) and scale::fit_rect -----------------
even = lambda v: int(v) & ~1
def block(ax, ay, aw, ah, n, cols, gap):
    if n == 0 or cols == 0 or aw == 0 or ah == 0:
        return []
    cols = min(cols, n); rows = -(-n // cols)
    avail_w = max(aw - gap * (cols + 1), 0); avail_h = max(ah - gap * (rows + 1), 0)
    tw = even(min(avail_w // cols, avail_h // rows * 16 // 9)); th = even(tw * 9 // 16)
    if th * rows > avail_h:
        th = even(avail_h // rows)
    if tw < 2 or th < 2:
        if gap > 0:
            return block(ax, ay, aw, ah, n, cols, 0)
        tw, th = even(aw // cols), even(ah // rows)
        if tw < 2 or th < 2:
            return []
    block_h = rows * th + (rows - 1) * gap
    y0 = ay + even((ah - block_h) // 2)
    out = []
    for i in range(n):
        r, c = divmod(i, cols)
        in_row = min(n - r * cols, cols)
        row_w = in_row * tw + (in_row - 1) * gap
        x0 = ax + even((aw - row_w) // 2)
        out.append((x0 + c * (tw + gap), y0 + r * (th + gap), tw, th))
    return out
def place(has_main, n):
    cw, ch = even(W), even(H)
    gap = max(even(min(cw, ch) // 90), 2)
    if not has_main:
        cols = 1
        while cols * cols < min(n, 36):
            cols += 1
        return None, block(0, 0, cw, ch, min(n, 36), cols, gap)
    if n == 0:
        return (0, 0, cw, ch), []
    mw = even((cw * 3 + 2) // 4)
    side = (mw, 0, cw - mw, ch)
    n = min(n, 12)
    one = block(*side, n, 1, gap)
    if n <= 4:
        return (0, 0, mw, ch), one
    two = block(*side, n, 2, gap)
    return (0, 0, mw, ch), (two if two and one and two[0][2] * two[0][3] > one[0][2] * one[0][3] else one)
def fit_in(sw, sh, r):
    x, y, cw, ch = r
    if sw * ch > sh * cw:
        w, h = cw, (cw * sh + sw // 2) // sw
    else:
        w, h = (ch * sw + sh // 2) // sh, ch
    w = max(min(w, cw) & ~1, min(2, cw)); h = max(min(h, ch) & ~1, min(2, ch))
    return (x + ((cw - w) // 2 & ~1), y + ((ch - h) // 2 & ~1), w, h)

# --- the layout over time: intervals between change points -------------------------------
speak_end = {s["id"]: min(s["end"] + HOLD, T) for s in srcs if s["kind"] == "audio_only"}
pts = {0.0, T} | {s["start"] for s in srcs} | {s["end"] for s in srcs} | set(speak_end.values())
pts = sorted(p for p in pts if 0 <= p <= T)
slots = []  # TileSlots: keys with None holes
uses = {}   # (source id, rect) -> [[a, b], ...]
for a, b in zip(pts, pts[1:]):
    m = (a + b) / 2
    act = [s for s in srcs if s["start"] <= m < (speak_end.get(s["id"], s["end"]))]
    screens = [s for s in act if s["kind"] == "screen" and s["has_v"] and m < s["end"]]
    slides = [s for s in act if s["kind"] == "slide"]
    cams = [s for s in act if s["kind"] not in ("screen", "slide", "audio_only") and s["has_v"] and m < s["end"]]
    talk = [s for s in act if s["kind"] == "audio_only"]
    screen = max(screens, key=lambda s: s["start"]) if screens else None
    slide = max(slides, key=lambda s: s["start"]) if slides else None
    cam = max(cams, key=lambda s: (s["presenter"], s["start"])) if cams else None
    main = screen or slide or cam
    main_key = main["key"] if main else None
    # Tile candidates in stitch's source order (with pictures first, later start first).
    cand, seen = [], set()
    for s in sorted(cams, key=lambda s: -s["start"]) + sorted(talk, key=lambda s: -s["start"]):
        if s["key"] != main_key and s["key"] not in seen:
            seen.add(s["key"]); cand.append(s)
    keys = [s["key"] for s in cand]
    slots = [k if k in keys else None for k in slots]
    joining = sorted([(i, s) for i, s in enumerate(cand) if s["key"] not in slots],
                     key=lambda p: (-int(p[1]["presenter"]), p[0]))
    for _, s in joining:
        if None in slots:
            slots[slots.index(None)] = s["key"]
        else:
            slots.append(s["key"])
    while slots and slots[-1] is None:
        slots.pop()
    order = [next(s for s in cand if s["key"] == k) for k in slots if k is not None]
    mrect, tiles = place(main is not None, len(order))
    shown = []
    if main is not None:
        shown.append((main, mrect))
    shown += [(s, r) for s, r in zip(order, tiles) if s["kind"] != "audio_only"]
    for s, r in shown:
        k = (s["id"], fit_in(s["w"], s["h"], r))
        rng = uses.setdefault(k, [])
        if rng and abs(rng[-1][1] - a) < 1e-6:
            rng[-1][1] = b
        else:
            rng.append([a, b])

# --- the command -------------------------------------------------------------------------
# One input per (source, rectangle, time range), opened with -ss/-t at its range and
# -itsoffset to its place: each decodes only what it shows. (Splitting one input into
# trimmed branches instead would make ffmpeg queue every decoded frame of the branches that
# wait for their turn: gigabytes.) Audio: one more input per clip with sound.
args = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
g = [f"color=c=black:s={W}x{H}:r={FPS}:d={T:.3f},format=yuv420p[bg0]"]
ov, k = [], 0
for (sid, r), rngs in sorted(uses.items(), key=lambda x: x[1][0][0]):
    s = srcs[sid]
    for a, b in rngs:
        # Read a little before a (a low-frame-rate source has a picture at a) and after b;
        # fps=25:start_time=a + trim=end=b then make the branch exactly [a, b) on the output
        # frame grid, so that overlay's eof_action=pass ends it at b. (overlay's enable= is
        # off by a frame here: it is re-evaluated on the secondary input's frames too.)
        if s["kind"] == "slide":
            lead, tail = 0.0, 1.0
            args += ["-loop", "1", "-framerate", "1", "-t", f"{b - a + tail:.3f}"]
        else:
            lead, tail = min(0.5, a - s["start"]), min(0.5, s["end"] - b)
            args += ["-ss", f"{a - lead - s['start']:.3f}", "-t", f"{b - a + lead + tail:.3f}"]
        # (-itsoffset would be the obvious placement, but ffmpeg 5.1 then applies an input -t
        # to the offset timestamps and ends the input early: setpts instead.)
        args += ["-i", s["path"]]
        g.append(f"[{k}:v]setpts=PTS-STARTPTS+{a - lead:.3f}/TB,scale={r[2]}:{r[3]},"
                 f"fps={FPS}:start_time={a:.3f},trim=end={b:.3f}[s{k}]")
        ov.append((f"s{k}", r, a, b))
        k += 1
for j, (lab, r, a, b) in enumerate(ov):
    nxt = "vout" if j == len(ov) - 1 else f"bg{j + 1}"
    g.append(f"[bg{j}][{lab}]overlay=x={r[0]}:y={r[1]}:eof_action=pass[{nxt}]")
if not ov:
    g.append("[bg0]null[vout]")
auds = [s for s in srcs if s["has_a"]]
for s in auds:
    s["in"] = k; k += 1
    args += ["-i", s["path"]]
    ms = int(round(s["start"] * 1000))
    g.append(f"[{s['in']}:a]aresample=48000,asetpts=PTS-STARTPTS,"
             f"atrim=end={s['end'] - s['start']:.3f},adelay=delays={ms}:all=1[a{s['id']}]")
if auds:
    g.append("".join(f"[a{s['id']}]" for s in auds)
             + f"amix=inputs={len(auds)}:duration=longest:dropout_transition=0:normalize=0,"
             f"apad=whole_dur={T:.3f},atrim=end={T:.3f}[aout]")
open(graph_path, "w").write(";\n".join(g) + "\n")
args += ["-filter_complex_script", graph_path, "-map", "[vout]"]
if auds:
    args += ["-map", "[aout]"]
args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-r", str(FPS)]
if threads:
    args += ["-threads", threads]
if auds:
    args += ["-c:a", "aac", "-b:a", "128k", "-ar", "48000"]
args += ["-t", f"{T:.3f}", out]
sys.stdout.write("\0".join(args) + "\0")
PY
)
[[ ${#ARGS[@]} -gt 0 ]] || { echo "composite_ffmpeg: could not build the command" >&2; exit 1; }
exec "${ARGS[@]}"
