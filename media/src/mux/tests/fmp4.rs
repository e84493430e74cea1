//! Unit tests of `crate::mux::fmp4` (kept in `tests/` beside the code: they run Debian's
//! ffmpeg/ffprobe as an independent oracle, which product code never does). The input is
//! real H.264/AAC: the fixtures of `testdata/` read with the crate's demuxers.

use super::*;
use crate::mux::mp4::tests::{be32, child, children, ffmpeg_available, has_child};
use crate::packet::Codec;
use std::collections::HashMap;
use std::process::{Command, Stdio};

// ---- helpers ----

pub(crate) use crate::testutil::testdata;

/// Every stream and packet of a fixture, read with the crate's demuxer.
pub(crate) fn demux_all(name: &str) -> (Vec<StreamInfo>, Vec<Packet>) {
    let (_, mut d) = crate::demux::open(&testdata(name)).unwrap();
    let streams = d.streams().to_vec();
    let mut pkts = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        pkts.push(p);
    }
    (streams, pkts)
}

fn mux(streams: &[StreamInfo], pkts: &[Packet]) -> Vec<u8> {
    let mut w = Fmp4Writer::new(Vec::new(), streams).unwrap();
    for p in pkts {
        w.write(p).unwrap();
    }
    w.finish().unwrap()
}

/// Run `cmd` with `input` on its standard input (fed from a thread); its output.
pub(crate) fn run_piped(cmd: &mut Command, input: Vec<u8>) -> std::process::Output {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn ffmpeg");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(o.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// ffprobe's `-show_entries` of `what` (e.g. "packet=stream_index,pts") as CSV rows.
pub(crate) fn probe_rows(data: &[u8], what: &str) -> Vec<Vec<String>> {
    let o = run_piped(
        Command::new("/usr/bin/ffprobe").args(["-v", "error", "-show_entries", what, "-of", "csv=p=0", "-i", "pipe:0"]),
        data.to_vec(),
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|f| f.trim().to_string()).collect())
        .collect()
}

/// `ffprobe -show_streams -show_format` as flat key/value pairs.
pub(crate) fn probe_flat(data: &[u8]) -> HashMap<String, String> {
    let o = run_piped(
        Command::new("/usr/bin/ffprobe")
            .args(["-v", "error", "-show_streams", "-show_format", "-of", "flat", "-i"])
            .arg("pipe:0"),
        data.to_vec(),
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Decode everything with ffmpeg; what it reports at level "error" (nothing when clean).
pub(crate) fn decode_errors(data: &[u8]) -> String {
    let o = run_piped(
        Command::new("/usr/bin/ffmpeg").args(["-v", "error", "-nostdin", "-i", "pipe:0", "-f", "null", "-"]),
        data.to_vec(),
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Top-level boxes of the file.
fn top(file: &[u8]) -> Vec<([u8; 4], &[u8])> {
    children(file)
}

/// (track_ID, tfdt, [(duration, size, flags, cto)], data_offset) of every traf of a moof.
type Run = (u32, u64, Vec<(u32, u32, u32, i32)>, i32);

fn trafs(moof: &[u8]) -> Vec<Run> {
    let mut v = Vec::new();
    for (typ, traf) in children(moof) {
        if &typ != b"traf" {
            continue;
        }
        let tfhd = child(traf, b"tfhd", 0);
        assert_eq!(be32(tfhd) & 0xff_ffff, 0x02_0000, "tfhd flags: default-base-is-moof only");
        let id = be32(&tfhd[4..]);
        let tfdt = child(traf, b"tfdt", 0);
        assert_eq!(tfdt[0], 1, "tfdt version 1");
        let base = u64::from_be_bytes(tfdt[4..12].try_into().unwrap());
        let trun = child(traf, b"trun", 0);
        let flags = be32(trun) & 0xff_ffff;
        assert_eq!(flags & 0x701, 0x701, "trun: data offset, duration, size and flags present");
        let n = be32(&trun[4..]) as usize;
        let off = be32(&trun[8..]) as i32;
        let cts = flags & 0x800 != 0;
        let step = if cts { 16 } else { 12 };
        let mut samples = Vec::new();
        for i in 0..n {
            let s = &trun[12 + i * step..];
            samples.push((be32(s), be32(&s[4..]), be32(&s[8..]), if cts { be32(&s[12..]) as i32 } else { 0 }));
        }
        assert_eq!(trun.len(), 12 + n * step, "trun size");
        v.push((id, base, samples, off));
    }
    v
}

/// Per track_ID: every sample as (decode time, size, flags, composition offset, data),
/// after checking that each trun's data lies inside the mdat that follows its moof.
#[allow(clippy::type_complexity)]
fn samples_by_track(file: &[u8]) -> (usize, HashMap<u32, Vec<(u64, u32, u32, i32, Vec<u8>)>>) {
    let mut out: HashMap<u32, Vec<(u64, u32, u32, i32, Vec<u8>)>> = HashMap::new();
    let boxes = top(file);
    let mut pos = 0usize; // file offset of the current box
    let mut fragments = 0;
    let mut next_time: HashMap<u32, u64> = HashMap::new();
    for (i, (typ, payload)) in boxes.iter().enumerate() {
        let size = payload.len() + 8;
        if typ == b"moof" {
            fragments += 1;
            let mfhd = child(payload, b"mfhd", 0);
            assert_eq!(be32(&mfhd[4..]), fragments as u32, "mfhd sequence_number");
            let (mtyp, mdat) = boxes[i + 1];
            assert_eq!(&mtyp, b"mdat", "every moof is followed by its mdat");
            let mdat_start = pos + size + 8;
            let mut used = 0;
            for (id, base, samples, off) in trafs(payload) {
                if let Some(&t) = next_time.get(&id) {
                    assert_eq!(base, t, "track {id}: tfdt continues where the previous fragment ended");
                }
                let mut at = pos + off as usize;
                assert!(at >= mdat_start, "data offset points into the mdat");
                let mut t = base;
                for (dur, sz, flags, cto) in samples {
                    let d = file[at..at + sz as usize].to_vec();
                    assert!(at + sz as usize <= mdat_start + mdat.len());
                    out.entry(id).or_default().push((t, sz, flags, cto, d));
                    at += sz as usize;
                    used += sz as usize;
                    t += dur as u64;
                }
                next_time.insert(id, t);
            }
            assert_eq!(used, mdat.len(), "the mdat holds exactly the runs' samples");
        }
        pos += size;
    }
    (fragments, out)
}

fn sync(flags: u32) -> bool {
    flags & 0x0001_0000 == 0
}

// ---- structure ----

#[test]
fn layout_and_fragments_per_gop() {
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    let file = mux(&streams, &pkts);
    let boxes = top(&file);
    assert_eq!(&boxes[0].0, b"ftyp");
    assert_eq!(&boxes[0].1[..4], b"iso6");
    assert_eq!(&boxes[1].0, b"moov");
    assert!(boxes[2..].iter().enumerate().all(|(i, (t, _))| t == if i % 2 == 0 { b"moof" } else { b"mdat" }));
    let moov = boxes[1].1;
    let mvhd = child(moov, b"mvhd", 0);
    assert_eq!(be32(&mvhd[16..]), 0, "mvhd duration 0");
    let mvex = child(moov, b"mvex", 0);
    let trex: Vec<u32> = children(mvex).iter().map(|(_, b)| be32(&b[4..])).collect();
    assert_eq!(trex, vec![1, 2], "one trex per track");
    for n in 0..2 {
        let trak = child(moov, b"trak", n);
        let stbl = child(child(child(trak, b"mdia", 0), b"minf", 0), b"stbl", 0);
        for b in [b"stts", b"stsc", b"stco"] {
            assert_eq!(be32(&child(stbl, b, 0)[4..]), 0, "empty {}", String::from_utf8_lossy(b));
        }
        assert_eq!(be32(&child(stbl, b"stsz", 0)[8..]), 0, "empty stsz");
        assert!(!has_child(stbl, b"stss") && !has_child(stbl, b"ctts"));
    }

    let video: Vec<&Packet> = pkts.iter().filter(|p| p.stream == 0).collect();
    let keys = video.iter().filter(|p| p.keyframe).count();
    assert_eq!(streams[0].kind, MediaKind::Video);
    let (fragments, got) = samples_by_track(&file);
    assert_eq!(fragments, keys, "one fragment per GOP");
    let v = &got[&1];
    assert_eq!(v.len(), video.len());
    // Decode times are the input's dts shifted by the first (negative: B-frames) dts.
    let first = video[0].dts;
    assert!(first < 0, "fixture has B-frames: first dts {first}");
    for (s, p) in v.iter().zip(&video) {
        assert_eq!(s.0 as i64, p.dts - first);
        assert_eq!(s.3 as i64, p.pts - p.dts);
        assert_eq!(sync(s.2), p.keyframe);
    }
    // Each fragment starts with a sync sample.
    for (_, moof) in boxes.iter().filter(|(t, _)| t == b"moof") {
        let runs = trafs(moof);
        let vr = runs.iter().find(|r| r.0 == 1).unwrap();
        assert!(sync(vr.2[0].2), "fragment starts at a keyframe");
    }
    // The edit shifts the presentation back by the first dts.
    let elst = child(child(child(moov, b"trak", 0), b"edts", 0), b"elst", 0);
    assert_eq!(be32(&elst[4..]), 1);
    assert_eq!(be32(&elst[8..]), 0, "segment_duration 0 (fragmented: until the end)");
    assert_eq!(be32(&elst[12..]) as i64, -first, "media_time");

    // Samples: 4-byte lengths, no AUD/SPS/PPS; audio as it came.
    let audio: Vec<&Packet> = pkts.iter().filter(|p| p.stream == 1).collect();
    assert_eq!(got[&2].len(), audio.len());
    for (s, p) in got[&2].iter().zip(&audio) {
        assert_eq!(s.4, p.data.to_vec());
        assert!(sync(s.2));
    }
    for s in v {
        let nals = crate::codec::h264::avcc_nals(&s.4, 4).unwrap();
        assert!(nals.iter().all(|n| !matches!(crate::codec::h264::nal_type(n), 7..=9)));
    }
}

#[test]
fn durations_are_dts_deltas_across_fragments() {
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    let file = mux(&streams, &pkts);
    let (_, got) = samples_by_track(&file);
    for (i, s) in streams.iter().enumerate() {
        let ts = if s.kind == MediaKind::Audio { s.sample_rate } else { s.timebase };
        let dts: Vec<i64> = pkts.iter().filter(|p| p.stream == i).map(|p| rescale(p.dts, s.timebase, ts)).collect();
        let out: Vec<i64> = got[&(i as u32 + 1)].iter().map(|x| x.0 as i64).collect();
        let shift = dts[0].min(0);
        let want: Vec<i64> = dts.iter().map(|d| d - shift).collect();
        assert_eq!(out, want, "stream {i}: decode times (sum of the durations) match the input dts");
    }
}

#[test]
fn audio_only_fragments_of_about_a_second() {
    let (streams, pkts) = demux_all("c_audio_only.m4a");
    assert_eq!(streams.len(), 1);
    let file = mux(&streams, &pkts);
    let rate = streams[0].sample_rate as u64;
    let boxes = top(&file);
    let durs: Vec<u64> = boxes
        .iter()
        .filter(|(t, _)| t == b"moof")
        .map(|(_, m)| trafs(m)[0].2.iter().map(|s| s.0 as u64).sum())
        .collect();
    assert!(durs.len() >= 3, "{durs:?}");
    for d in &durs[..durs.len() - 1] {
        assert!(*d >= rate && *d < rate + 1024 + 1, "fragment of {d} samples at {rate} Hz");
    }
    let (_, got) = samples_by_track(&file);
    assert_eq!(got[&1].len(), pkts.len());
}

#[test]
fn inband_parameter_sets_give_the_avcc() {
    // MPEG-TS input: SPS/PPS in-band, AUDs present.
    let (mut streams, pkts) = demux_all("e_clip.ts");
    for s in &mut streams {
        if s.codec == Codec::H264 {
            s.config = bytes::Bytes::new();
        }
    }
    let file = mux(&streams, &pkts);
    let moov = child(&file, b"moov", 0);
    let vi = streams.iter().position(|s| s.codec == Codec::H264).unwrap();
    let trak = child(moov, b"trak", vi);
    let stsd = child(child(child(child(trak, b"mdia", 0), b"minf", 0), b"stbl", 0), b"stsd", 0);
    let avc1 = child(&stsd[8..], b"avc1", 0);
    let rec = child(&avc1[78..], b"avcC", 0);
    let cfg = crate::codec::h264::AvcConfig::parse(rec).unwrap();
    assert_eq!((cfg.sps.len(), cfg.pps.len()), (1, 1));
    assert_eq!(rec[4] & 3, 3, "4-byte NAL lengths");
    assert_eq!(u16::from_be_bytes([avc1[24], avc1[25]]), 320, "width from the SPS");
    let (_, got) = samples_by_track(&file);
    for s in &got[&(vi as u32 + 1)] {
        let nals = crate::codec::h264::avcc_nals(&s.4, 4).unwrap();
        assert!(nals.iter().all(|n| !matches!(crate::codec::h264::nal_type(n), 7..=9)), "no AUD/SPS/PPS left");
    }
}

// ---- errors ----

#[test]
fn bad_input_is_an_error() {
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    assert!(matches!(Fmp4Writer::new(Vec::new(), &[]), Err(Error::NoMedia(_))));
    let mut other = streams[0].clone();
    other.codec = Codec::Other("vp9".into());
    assert!(matches!(Fmp4Writer::new(Vec::new(), &[other]), Err(Error::UnsupportedCodec(_))));

    let mut w = Fmp4Writer::new(Vec::new(), &streams).unwrap();
    let mut p = pkts[0].clone();
    p.stream = 7;
    assert!(w.write(&p).is_err(), "unknown stream");
    w.write(&pkts[0]).unwrap();
    let e = w.write(&pkts[0]).unwrap_err();
    assert!(e.to_string().contains("does not increase"), "{e}");
    let mut p = pkts[0].clone();
    p.dts += 100;
    p.data = bytes::Bytes::from_static(&[0x41, 0x9a, 0x00]);
    assert!(w.write(&p).unwrap_err().to_string().contains("Annex B"));

    // No packets at all.
    let w = Fmp4Writer::new(Vec::new(), &streams).unwrap();
    assert!(matches!(w.finish(), Err(Error::NoMedia(_))));

    // H.264 that never gets a SPS/PPS.
    let mut v = streams[0].clone();
    v.config = bytes::Bytes::new();
    let mut w = Fmp4Writer::new(Vec::new(), std::slice::from_ref(&v)).unwrap();
    let idr = Packet {
        stream: 0,
        pts: 0,
        dts: 0,
        duration: 0,
        keyframe: true,
        data: bytes::Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88, 0x84]),
    };
    w.write(&idr).unwrap();
    let e = w.finish().unwrap_err();
    assert!(e.to_string().contains("without SPS/PPS"), "{e}");
}

/// Accepts `limit` bytes, then fails as a closed pipe does.
pub(crate) struct ClosedAfter {
    pub(crate) limit: usize,
    pub(crate) got: usize,
}
impl Write for ClosedAfter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.got >= self.limit {
            return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        }
        let n = b.len().min(self.limit - self.got);
        self.got += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_error_poisons_the_writer() {
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    let mut w = Fmp4Writer::new(ClosedAfter { limit: 5000, got: 0 }, &streams).unwrap();
    let mut err = None;
    for p in &pkts {
        if let Err(e) = w.write(p) {
            err = Some(e);
            break;
        }
    }
    match err {
        Some(Error::Io2(e)) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("expected a broken pipe, got {other:?}"),
    }
    assert!(w.write(pkts.last().unwrap()).unwrap_err().to_string().contains("earlier error"));
    assert!(w.finish().is_err());
}

// ---- FFmpeg as the oracle ----

/// Checks of a stream read from a pipe against its input packets: same streams, every
/// packet with the same pts/dts (on FFmpeg's clock: presentation = pts) in order, every
/// picture decoded, in pts order starting at 0 (for video starting at 0), no decode errors.
fn check_with_ffmpeg(streams: &[StreamInfo], pkts: &[Packet], file: &[u8]) {
    let p = probe_flat(file);
    assert_eq!(p["format.nb_streams"], streams.len().to_string());
    for (i, s) in streams.iter().enumerate() {
        assert_eq!(p[&format!("streams.stream.{i}.codec_name")], s.codec.name(), "{p:?}");
    }
    let rows = probe_rows(file, "packet=stream_index,pts,dts,duration,flags");
    for (i, s) in streams.iter().enumerate() {
        let ts = if s.kind == MediaKind::Audio { s.sample_rate } else { s.timebase };
        let want: Vec<(i64, i64, bool)> = pkts
            .iter()
            .filter(|p| p.stream == i)
            .map(|p| (rescale(p.pts, s.timebase, ts), rescale(p.dts, s.timebase, ts), p.keyframe))
            .collect();
        let got: Vec<(i64, i64, bool)> = rows
            .iter()
            .filter(|r| r[0] == i.to_string())
            .map(|r| (r[1].parse().unwrap(), r[2].parse().unwrap(), r[4].starts_with('K')))
            .collect();
        assert_eq!(got.len(), want.len(), "stream {i}: packet count");
        // FFmpeg applies the edit: its dts are ours minus the media_time.
        assert_eq!(got, want, "stream {i}: pts/dts/keyframe of every packet");
        assert_eq!(p[&format!("streams.stream.{i}.time_base")], format!("1/{ts}"));
    }
    if let Some(vi) = streams.iter().position(|s| s.kind == MediaKind::Video) {
        let frames = probe_rows(file, "frame=stream_index,pts");
        let pts: Vec<i64> = frames.iter().filter(|r| r[0] == vi.to_string()).map(|r| r[1].parse().unwrap()).collect();
        let n = pkts.iter().filter(|p| p.stream == vi).count();
        assert_eq!(pts.len(), n, "every picture decodes");
        assert!(pts.windows(2).all(|w| w[0] < w[1]), "pictures come out in pts order: {pts:?}");
        let min_in = pkts.iter().filter(|p| p.stream == vi).map(|p| p.pts).min().unwrap();
        let ts = streams[vi].timebase;
        assert_eq!(pts[0], min_in, "first picture at the first pts");
        // Duration within a frame: the end of the last picture (pts + duration, as FFmpeg
        // reads them) against the input's.
        // (A TS demuxer gives no packet durations: then one frame = the median dts step.)
        let mut steps: Vec<i64> = pkts
            .iter()
            .filter(|p| p.stream == vi)
            .map(|p| p.dts)
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        steps.sort();
        let frame = steps[steps.len() / 2];
        let end_in = pkts
            .iter()
            .filter(|p| p.stream == vi)
            .map(|p| p.pts + if p.duration > 0 { p.duration } else { frame })
            .max()
            .unwrap();
        let end_out = rows
            .iter()
            .filter(|r| r[0] == vi.to_string())
            .map(|r| r[1].parse::<i64>().unwrap() + r[3].parse::<i64>().unwrap())
            .max()
            .unwrap();
        assert!((end_out - end_in).abs() <= frame, "video ends at {end_out}, input at {end_in} (1/{ts} s)");
    }
    let errs = decode_errors(file);
    assert!(errs.trim().is_empty(), "decode errors: {errs}");
}

#[test]
fn ffmpeg_reads_bframes_from_a_pipe() {
    if !ffmpeg_available() {
        return;
    }
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    let file = mux(&streams, &pkts);
    check_with_ffmpeg(&streams, &pkts, &file);
    // The presentation starts at 0 for both streams.
    let p = probe_flat(&file);
    assert_eq!(p["streams.stream.0.start_time"], "0.000000", "{p:?}");
}

#[test]
fn ffmpeg_reads_ts_input_with_inband_parameter_sets() {
    if !ffmpeg_available() {
        return;
    }
    let (mut streams, pkts) = demux_all("e_clip.ts");
    for s in &mut streams {
        s.config = if s.codec == Codec::H264 { bytes::Bytes::new() } else { s.config.clone() };
    }
    let file = mux(&streams, &pkts);
    check_with_ffmpeg(&streams, &pkts, &file);
}

#[test]
fn ffmpeg_reads_audio_only() {
    if !ffmpeg_available() {
        return;
    }
    let (streams, pkts) = demux_all("c_audio_only.m4a");
    let file = mux(&streams, &pkts);
    check_with_ffmpeg(&streams, &pkts, &file);
}

#[test]
fn ffmpeg_reads_while_it_arrives() {
    // A reader that gets the first fragments only (the writer has not finished) still
    // decodes them: nothing needed for playback waits for the end.
    if !ffmpeg_available() {
        return;
    }
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    let mut w = Fmp4Writer::new(Vec::new(), &streams).unwrap();
    let third_key = pkts.iter().filter(|p| p.stream == 0 && p.keyframe).nth(2).unwrap().dts;
    for p in pkts.iter().filter(|p| p.stream != 0 || p.dts <= third_key) {
        w.write(p).unwrap();
    }
    // Two GOPs are out; the third is still held.
    let partial = std::mem::take(&mut w.out);
    assert_eq!(children(&partial).iter().filter(|(t, _)| t == b"moof").count(), 2);
    let frames = probe_rows(&partial, "frame=stream_index,pts");
    assert_eq!(frames.iter().filter(|r| r[0] == "0").count(), 50, "two GOPs of 25 pictures");
}
