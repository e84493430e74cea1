#!/usr/bin/env python3
"""Independent output checker for benches/record_bench.sh (shares no code with stitch).

Usage: ts_check.py FILE [--expected SECONDS] [--json OUT.json]

MPEG-TS input (ISO/IEC 13818-1), parsed here packet by packet:
  - sync: packets whose first byte is not 0x47 (then resync).
  - continuity counters per PID: the CC must be previous+1 (mod 16) on packets that carry
    a payload; packets without payload (adaptation_field_control 10) are ignored (their CC
    does not increment, §2.4.3.3); one duplicate packet (same CC right after a payload
    packet) is allowed and ignored; a packet whose adaptation field sets
    discontinuity_indicator may restart the counter; the null PID 0x1FFF is skipped.
  - PAT/PMT -> which PIDs are video / audio (stream_type).
  - PES headers -> PTS/DTS per access unit (33-bit values unwrapped).
Anything else (MP4...): packet timestamps come from ffprobe -show_packets; no CC check.

Timestamp checks, on the first video PID (audio is reported too):
  - dts_back : DTS (PTS when no DTS) not increasing from one PES to the next.
  - dts_jump : DTS step larger than 1.5 frame durations (frame duration = median step).
  - pts_back / pts_jump : same on PTS in presentation order (reordered through a window
    of 16 frames, enough for B-frame pyramids).
  - duration : presentation span (max PTS - min PTS + one frame) and frames x frame
    duration; with --expected, their difference to it (e.g. the playlist's EXTINF sum).
Prints a one-line summary and, with --json, writes every figure.
"""
import heapq
import json
import statistics
import subprocess
import sys

VIDEO_TYPES = {0x01, 0x02, 0x10, 0x1B, 0x24, 0x42, 0xEA}
AUDIO_TYPES = {0x03, 0x04, 0x0F, 0x11, 0x81, 0x87}
WRAP = 1 << 33


class Unwrap:
    def __init__(self):
        self.prev = None
        self.acc = None

    def __call__(self, v):
        if self.prev is None:
            self.prev, self.acc = v, v
            return v
        d = (v - self.prev) % WRAP
        if d >= WRAP // 2:
            d -= WRAP
        self.prev = v
        self.acc += d
        return self.acc


def parse_ts(path):
    data = open(path, "rb").read()
    n = len(data)
    cc_last = {}  # pid -> (cc, had_payload, dup_seen)
    cc_err = {}
    dups = 0
    sync_err = 0
    pmt_pids = set()
    stypes = {}  # pid -> stream_type
    pes_buf = {}  # pid -> bytearray (header being collected)
    ts = {}  # pid -> list of (pts, dts)
    unwraps = {}
    packets = 0
    i = 0
    while i + 188 <= n:
        if data[i] != 0x47:
            sync_err += 1
            j = data.find(b"\x47", i + 1)
            while j != -1 and j + 188 < n and data[j + 188] != 0x47:
                j = data.find(b"\x47", j + 1)
            if j == -1:
                break
            i = j
            continue
        p = data[i:i + 188]
        i += 188
        packets += 1
        pid = ((p[1] & 0x1F) << 8) | p[2]
        if pid == 0x1FFF:
            continue
        pusi = p[1] & 0x40
        afc = (p[3] >> 4) & 3
        cc = p[3] & 0x0F
        has_payload = afc & 1
        off = 4
        disc = False
        if afc & 2:
            alen = p[4]
            if alen > 0:
                disc = bool(p[5] & 0x80)
            off = 5 + alen
        # continuity
        if has_payload:
            last = cc_last.get(pid)
            if last is None or disc:
                cc_last[pid] = (cc, True, False)
            else:
                lcc, lpay, ldup = last
                if cc == lcc and lpay and not ldup:
                    dups += 1
                    cc_last[pid] = (cc, True, True)
                    continue  # a duplicate carries nothing new
                if cc != (lcc + 1) & 15:
                    cc_err[pid] = cc_err.get(pid, 0) + 1
                cc_last[pid] = (cc, True, False)
        if not has_payload or off >= 188:
            continue
        payload = p[off:]
        # PSI
        if pid == 0 or pid in pmt_pids:
            if not pusi:
                continue
            ptr = payload[0]
            sec = payload[1 + ptr:]
            if len(sec) < 8:
                continue
            tid = sec[0]
            slen = ((sec[1] & 0x0F) << 8) | sec[2]
            body = sec[8:3 + slen - 4]
            if pid == 0 and tid == 0x00:
                for k in range(0, len(body) - 3, 4):
                    prog = (body[k] << 8) | body[k + 1]
                    ppid = ((body[k + 2] & 0x1F) << 8) | body[k + 3]
                    if prog != 0:
                        pmt_pids.add(ppid)
            elif tid == 0x02:
                if len(body) < 4:
                    continue
                pil = ((body[2] & 0x0F) << 8) | body[3]
                k = 4 + pil
                while k + 5 <= len(body):
                    st = body[k]
                    epid = ((body[k + 1] & 0x1F) << 8) | body[k + 2]
                    eil = ((body[k + 3] & 0x0F) << 8) | body[k + 4]
                    stypes.setdefault(epid, st)
                    k += 5 + eil
            continue
        # PES header
        if pusi:
            pes_buf[pid] = bytearray(payload)
        elif pid in pes_buf:
            pes_buf[pid] += payload
        else:
            continue
        b = pes_buf[pid]
        if len(b) < 9:
            continue
        if b[0:3] != b"\x00\x00\x01":
            del pes_buf[pid]
            continue
        sid = b[3]
        if sid in (0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xFF, 0xF2, 0xF8):
            del pes_buf[pid]
            continue
        hl = b[8]
        if len(b) < 9 + hl:
            continue  # header continues in the next packet
        flags = (b[7] >> 6) & 3
        del pes_buf[pid]
        if flags & 2 == 0:
            continue

        def rd(o):
            return (((b[o] >> 1) & 7) << 30) | (b[o + 1] << 22) | ((b[o + 2] >> 1) << 15) | (b[o + 3] << 7) | (b[o + 4] >> 1)
        pts = rd(9)
        dts = rd(14) if flags == 3 else pts
        u = unwraps.setdefault(pid, (Unwrap(), Unwrap()))
        # one unwrapper for DTS; PTS unwrapped relative to its DTS (PTS >= DTS, close by)
        du = u[0](dts)
        pd = (pts - dts) % WRAP
        if pd >= WRAP // 2:
            pd -= WRAP
        ts.setdefault(pid, []).append((du + pd, du))
    kinds = {}
    for pid, st in stypes.items():
        kinds[pid] = "video" if st in VIDEO_TYPES else "audio" if st in AUDIO_TYPES else "other"
    return {
        "container": "mpegts", "packets": packets, "sync_errors": sync_err,
        "cc_errors": sum(cc_err.values()), "cc_errors_by_pid": {f"0x{k:x}": v for k, v in sorted(cc_err.items())},
        "duplicates": dups,
        "streams": [{"pid": f"0x{p:x}", "kind": kinds.get(p, "other"), "stream_type": stypes.get(p), "ts": ts.get(p, [])}
                    for p in sorted(set(ts) | set(stypes))],
    }, 90000


def parse_ffprobe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=index,codec_type,time_base:packet=stream_index,pts,dts",
         "-of", "json", path], check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    streams = []
    for s in j.get("streams", []):
        num, den = (int(x) for x in s["time_base"].split("/"))
        lst = []
        for p in j.get("packets", []):
            if p["stream_index"] != s["index"]:
                continue
            pts, dts = p.get("pts"), p.get("dts", p.get("pts"))
            if pts is None or dts is None:
                continue
            # to 90 kHz
            lst.append((int(pts) * num * 90000 // den, int(dts) * num * 90000 // den))
        streams.append({"pid": f"#{s['index']}", "kind": s["codec_type"], "stream_type": None, "ts": lst})
    return {"container": "ffprobe", "packets": None, "sync_errors": None, "cc_errors": None,
            "cc_errors_by_pid": {}, "duplicates": None, "streams": streams}, 90000


def analyse(ts, clock):
    """Timestamp figures of one stream's (pts, dts) list, in decode order."""
    r = {"units": len(ts)}
    if len(ts) < 2:
        return r
    dsteps = [ts[k][1] - ts[k - 1][1] for k in range(1, len(ts))]
    pos = [d for d in dsteps if d > 0]
    fd = statistics.median(pos) if pos else 0
    r["unit_dur_s"] = fd / clock
    r["dts_back"] = sum(1 for d in dsteps if d <= 0)
    r["dts_jump"] = sum(1 for d in dsteps if fd and d > 1.5 * fd)
    r["dts_back_max_s"] = max([-d for d in dsteps if d <= 0], default=0) / clock
    r["dts_jump_max_s"] = max([d for d in dsteps if fd and d > 1.5 * fd], default=0) / clock
    # PTS in presentation order through a 16-frame reorder window
    heap, order = [], []
    for pts, _ in ts:
        heapq.heappush(heap, pts)
        if len(heap) > 16:
            order.append(heapq.heappop(heap))
    while heap:
        order.append(heapq.heappop(heap))
    psteps = [order[k] - order[k - 1] for k in range(1, len(order))]
    r["pts_back"] = sum(1 for d in psteps if d <= 0)
    r["pts_jump"] = sum(1 for d in psteps if fd and d > 1.5 * fd)
    pmin = min(p for p, _ in ts)
    pmax = max(p for p, _ in ts)
    r["first_pts_s"] = pmin / clock
    r["span_s"] = (pmax - pmin + fd) / clock
    r["units_x_dur_s"] = len(ts) * fd / clock
    r["end_s"] = (pmax + fd) / clock
    return r


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if args else 2)
    path = args[0]
    expected = float(args[args.index("--expected") + 1]) if "--expected" in args else None
    jpath = args[args.index("--json") + 1] if "--json" in args else None
    with open(path, "rb") as f:
        head = f.read(188 * 3 + 1)
    is_ts = len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47
    info, clock = parse_ts(path) if is_ts else parse_ffprobe(path)
    res = {k: v for k, v in info.items() if k != "streams"}
    res["file"] = path
    res["streams"] = []
    video = audio = None
    for s in info["streams"]:
        a = analyse(s["ts"], clock)
        a.update(pid=s["pid"], kind=s["kind"], stream_type=s["stream_type"])
        res["streams"].append(a)
        if s["kind"] == "video" and video is None and a["units"] > 1:
            video = a
        if s["kind"] == "audio" and audio is None and a["units"] > 1:
            audio = a
    res["video"] = video
    res["audio"] = audio
    if video:
        res["expected_s"] = expected
        if expected is not None:
            res["span_minus_expected_s"] = video["span_s"] - expected
            res["frames_minus_expected_s"] = video["units_x_dur_s"] - expected
        if audio and "end_s" in audio:
            res["av_end_skew_s"] = audio["end_s"] - video["end_s"]
            res["av_start_skew_s"] = audio["first_pts_s"] - video["first_pts_s"]
    if jpath:
        with open(jpath, "w") as f:
            json.dump(res, f, indent=1)
    v = video or {}
    print(f"{path}: {res['container']} cc_err={res['cc_errors']} sync_err={res['sync_errors']} dup={res['duplicates']} "
          f"video: frames={v.get('units')} dts_back={v.get('dts_back')} dts_jump={v.get('dts_jump')} "
          f"pts_back={v.get('pts_back')} pts_jump={v.get('pts_jump')} span={v.get('span_s', 0):.3f}s "
          f"frames*dur={v.get('units_x_dur_s', 0):.3f}s expected={expected} "
          f"audio: dts_back={(audio or {}).get('dts_back')} dts_jump={(audio or {}).get('dts_jump')}")
    if video is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
