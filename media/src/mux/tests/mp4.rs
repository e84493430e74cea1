//! Unit tests of `crate::mux::mp4` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use bytes::Bytes;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

// ---- helpers ----

/// A temporary directory removed when dropped (also when a test fails).
struct TmpDir(PathBuf);
impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}
impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}
impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tmpdir(name: &str) -> TmpDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "stitch-mp4mux-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

/// Child boxes of a box payload: (type, payload).
pub(crate) fn children(mut d: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut v = Vec::new();
    while d.len() >= 8 {
        let mut n = be32(d) as usize;
        let typ: [u8; 4] = d[4..8].try_into().unwrap();
        let mut hdr = 8;
        if n == 1 {
            n = u64::from_be_bytes(d[8..16].try_into().unwrap()) as usize;
            hdr = 16;
        }
        v.push((typ, &d[hdr..n]));
        d = &d[n..];
    }
    v
}

pub(crate) fn child<'a>(d: &'a [u8], typ: &[u8; 4], nth: usize) -> &'a [u8] {
    children(d)
        .into_iter()
        .filter(|(t, _)| t == typ)
        .nth(nth)
        .unwrap_or_else(|| panic!("no box {}", String::from_utf8_lossy(typ)))
        .1
}

fn stbl_of(file: &[u8], track: usize) -> &[u8] {
    let moov = child(file, b"moov", 0);
    let trak = child(moov, b"trak", track);
    child(child(child(trak, b"mdia", 0), b"minf", 0), b"stbl", 0)
}

pub(crate) fn has_child(d: &[u8], typ: &[u8; 4]) -> bool {
    children(d).iter().any(|(t, _)| t == typ)
}

fn video_info() -> StreamInfo {
    StreamInfo::new(0, MediaKind::Video, Codec::H264, 90_000)
}

fn audio_info(index: usize) -> StreamInfo {
    let mut a = StreamInfo::new(index, MediaKind::Audio, Codec::Aac, 48_000);
    a.sample_rate = 48_000;
    a.channels = 2;
    a.config = Bytes::from_static(&[0x11, 0x90]);
    a
}

// x264 SPS 320x240 High (from codec::h264 tests) and a PPS.
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

fn pkt(stream: usize, pts: i64, dts: i64, key: bool, data: Vec<u8>) -> Packet {
    Packet { stream, pts, dts, duration: 0, keyframe: key, data: Bytes::from(data) }
}

// ---- unit tests of the box builders ----

#[test]
fn stts_is_run_length() {
    let mut runs = Vec::new();
    for d in [3600, 3600, 3600, 3000, 3000, 3600] {
        push_run(&mut runs, d);
    }
    assert_eq!(runs, vec![(3, 3600), (2, 3000), (1, 3600)]);
    let mut o = Vec::new();
    stts_box(&mut o, &runs);
    let want: Vec<u8> = [
        &[0, 0, 0, 40][..],
        b"stts",
        &[0, 0, 0, 0, 0, 0, 0, 3],
        &[0, 0, 0, 3, 0, 0, 0x0e, 0x10],
        &[0, 0, 0, 2, 0, 0, 0x0b, 0xb8],
        &[0, 0, 0, 1, 0, 0, 0x0e, 0x10],
    ]
    .concat();
    assert_eq!(o, want);
}

#[test]
fn esds_matches_ffmpeg() {
    // `esds` of an m4a made by FFmpeg 5.1 (`-c:a aac -b:a 128k`, 48 kHz stereo, track 1):
    // ASC 11 90 56 e5 00, bufferSizeDB 0, maxBitrate 128000, avgBitrate 127974.
    let ffmpeg = hex("0000003665736473000000000380808025000100048080801740150000000001f4000001f3e6\
                      0580808005119056e500068080800102");
    let ours = esds_box(1, &[0x11, 0x90, 0x56, 0xe5, 0x00], 0, 128_000, 127_974);
    assert_eq!(ours, ffmpeg);
}

#[test]
fn descriptor_size_encoding() {
    let mut o = Vec::new();
    descriptor(&mut o, 5, &[0u8; 300]);
    // 300 = 0b10_0101100: 7-bit groups 0, 0, 2, 44.
    assert_eq!(&o[..5], &[5, 0x80, 0x80, 0x82, 0x2c]);
    assert_eq!(o.len(), 305);
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn idr_au(with_params: bool) -> Vec<u8> {
    let mut v = Vec::new();
    h264::push_annexb(&mut v, &[0x09, 0xf0]); // AUD
    if with_params {
        h264::push_annexb(&mut v, SPS);
        h264::push_annexb(&mut v, PPS);
    }
    h264::push_annexb(&mut v, &[0x65, 0x88, 0x84, 0x00, 0x33]);
    v
}

#[test]
fn avcc_passthrough_and_inband_build() {
    let record = AvcConfig::from_parameter_sets(vec![SPS.to_vec()], vec![PPS.to_vec()]).unwrap().to_bytes();
    let dir = tmpdir("avcc");
    let out = dir.join("a.mp4");
    let mut v = video_info();
    v.config = Bytes::from(record.clone());
    let mut w = Mp4Writer::create(&out, &[v]).unwrap();
    w.write(&pkt(0, 0, 0, true, idr_au(true))).unwrap();
    w.write(&pkt(0, 3600, 3600, false, vec![0, 0, 0, 1, 0x41, 0x9a, 0x01])).unwrap();
    w.finish().unwrap();
    let f = fs::read(&out).unwrap();
    let stbl = stbl_of(&f, 0);
    let stsd = child(stbl, b"stsd", 0);
    let avc1 = child(&stsd[8..], b"avc1", 0);
    assert_eq!(child(&avc1[78..], b"avcC", 0), &record[..]);
    assert_eq!((u16::from_be_bytes([avc1[24], avc1[25]]), u16::from_be_bytes([avc1[26], avc1[27]])), (320, 240));
    // The sample lost its AUD, SPS and PPS: 4 + 5 bytes; the second is 4 + 3.
    let stsz = child(stbl, b"stsz", 0);
    assert_eq!(&stsz[4..], &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 7]);
    let mdat = child(&f, b"mdat", 0);
    assert_eq!(&mdat[..9], &[0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x33]);
    // tkhd width/height from the SPS, 16.16.
    let tkhd = child(child(child(&f, b"moov", 0), b"trak", 0), b"tkhd", 0);
    assert_eq!(&tkhd[76..84], &[1, 0x40, 0, 0, 0, 0xf0, 0, 0]);
    // stss: sample 1 only.
    assert_eq!(child(stbl, b"stss", 0), &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);

    // Empty config: the record is built from the in-band SPS/PPS, identical bytes.
    let out2 = dir.join("b.mp4");
    let mut w = Mp4Writer::create(&out2, &[video_info()]).unwrap();
    w.write(&pkt(0, 0, 0, true, idr_au(true))).unwrap();
    w.finish().unwrap();
    let f = fs::read(&out2).unwrap();
    let stsd = child(stbl_of(&f, 0), b"stsd", 0);
    let avc1 = child(&stsd[8..], b"avc1", 0);
    assert_eq!(child(&avc1[78..], b"avcC", 0), &record[..]);

    // A record with 2-byte lengths is patched to say 4.
    let mut rec2 = record.clone();
    rec2[4] = 0xfd;
    let mut v = video_info();
    v.config = Bytes::from(rec2);
    let out3 = dir.join("c.mp4");
    let mut w = Mp4Writer::create(&out3, &[v]).unwrap();
    w.write(&pkt(0, 0, 0, true, idr_au(false))).unwrap();
    w.finish().unwrap();
    let f = fs::read(&out3).unwrap();
    let avc1 = child(&child(stbl_of(&f, 0), b"stsd", 0)[8..], b"avc1", 0);
    assert_eq!(child(&avc1[78..], b"avcC", 0), &record[..]);
}

#[test]
fn h264_without_parameter_sets_is_an_error() {
    let dir = tmpdir("nosps");
    let out = dir.join("a.mp4");
    let mut w = Mp4Writer::create(&out, &[video_info()]).unwrap();
    w.write(&pkt(0, 0, 0, true, idr_au(false))).unwrap();
    let e = w.finish().unwrap_err().to_string();
    assert!(e.contains("without SPS/PPS"), "{e}");
    assert!(!out.exists());
    assert!(!with_suffix(&out, ".mdat.part").exists());
}

#[test]
fn dts_must_increase() {
    let dir = tmpdir("dts");
    let out = dir.join("a.mp4");
    let mut w = Mp4Writer::create(&out, &[audio_info(0)]).unwrap();
    w.write(&pkt(0, 0, 0, true, vec![1, 2, 3])).unwrap();
    w.write(&pkt(0, 1024, 1024, true, vec![1, 2, 3])).unwrap();
    let e = w.write(&pkt(0, 1024, 1024, true, vec![1, 2, 3])).unwrap_err().to_string();
    assert!(e.contains("stream 0") && e.contains("dts 1024") && e.contains("previous dts 1024"), "{e}");
    let e = w.write(&pkt(0, 500, 500, true, vec![1])).unwrap_err().to_string();
    assert!(e.contains("dts 500") && e.contains("previous dts 1024"), "{e}");
    // The writer stays usable after a rejected packet.
    w.write(&pkt(0, 2048, 2048, true, vec![1, 2, 3])).unwrap();
    let e = w.write(&pkt(3, 0, 0, true, vec![1])).unwrap_err().to_string();
    assert!(e.contains("stream 3"), "{e}");
    drop(w);
}

/// AAC on a 90 kHz clock (as MPEG-TS carries it) written at 48 kHz: two DTS one 90 kHz
/// tick apart fall on one 48 kHz tick. The later one goes one tick on instead of failing the
/// file (found finalizing looped live segments); a DTS that really goes back still fails.
#[test]
fn increasing_dts_that_collapse_to_one_tick_are_nudged() {
    let dir = tmpdir("dts-collapse");
    let out = dir.join("a.mp4");
    let mut a = audio_info(0);
    a.timebase = 90_000;
    let mut w = Mp4Writer::create(&out, &[a]).unwrap();
    w.write(&pkt(0, 1_824_001 - 1920, 1_824_001 - 1920, true, vec![1, 2, 3])).unwrap();
    w.write(&pkt(0, 1_824_001, 1_824_001, true, vec![1, 2, 3])).unwrap();
    w.write(&pkt(0, 1_824_002, 1_824_002, true, vec![4, 5, 6])).unwrap();
    w.write(&pkt(0, 1_824_002 + 1920, 1_824_002 + 1920, true, vec![7])).unwrap();
    let e = w.write(&pkt(0, 1_000, 1_000, true, vec![1])).unwrap_err().to_string();
    assert!(e.contains("does not increase"), "{e}");
    w.finish().unwrap();
    let out_probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "packet=dts", "-of", "csv=p=0"])
        .arg(&out)
        .output();
    if let Ok(o) = out_probe {
        if o.status.success() {
            let dts: Vec<i64> =
                String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
            assert_eq!(dts.len(), 4, "{dts:?}");
            assert!(dts.windows(2).all(|w| w[0] < w[1]), "{dts:?}");
        }
    }
}

#[test]
fn unsupported_codec_is_an_error() {
    let dir = tmpdir("codec");
    let out = dir.join("a.mp4");
    let s = StreamInfo::new(0, MediaKind::Video, Codec::Other("hevc".into()), 90_000);
    match Mp4Writer::create(&out, &[audio_info(0), s]) {
        Err(Error::UnsupportedCodec(m)) => assert!(m.contains("hevc"), "{m}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("hevc accepted"),
    }
    assert!(!with_suffix(&out, ".mdat.part").exists());
    let mut bad = audio_info(0);
    bad.config = Bytes::new();
    bad.sample_rate = 0;
    assert!(Mp4Writer::create(&out, &[bad]).is_err());
}

#[test]
fn sidecar_removed_on_drop() {
    let dir = tmpdir("drop");
    let out = dir.join("a.mp4");
    let side = with_suffix(&out, ".mdat.part");
    let mut w = Mp4Writer::create(&out, &[audio_info(0)]).unwrap();
    w.write(&pkt(0, 0, 0, true, vec![0x21; 100])).unwrap();
    assert!(side.exists());
    drop(w);
    assert!(!side.exists());
    assert!(!out.exists());
    assert!(!with_suffix(&out, ".part").exists());
    // And after finish only the output remains.
    let mut w = Mp4Writer::create(&out, &[audio_info(0)]).unwrap();
    w.write(&pkt(0, 0, 0, true, vec![0x21; 100])).unwrap();
    let n = w.finish().unwrap();
    assert_eq!(fs::metadata(&out).unwrap().len(), n);
    let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![OsString::from("a.mp4")]);
}

#[test]
fn no_packets_is_no_media() {
    let dir = tmpdir("empty");
    let out = dir.join("a.mp4");
    let w = Mp4Writer::create(&out, &[audio_info(0)]).unwrap();
    assert!(matches!(w.finish(), Err(Error::NoMedia(_))));
    assert!(!out.exists());
}

/// Interleaved tracks with distinct sample bytes; returns (file, per-track samples).
fn mux_synthetic(out: &Path, limits: Limits) -> (Vec<u8>, Vec<Vec<Vec<u8>>>) {
    let mut v = video_info();
    v.config = Bytes::from(AvcConfig::from_parameter_sets(vec![SPS.to_vec()], vec![PPS.to_vec()]).unwrap().to_bytes());
    let mut w = Mp4Writer::create_with_limits(out, &[v, audio_info(1)], limits).unwrap();
    let mut samples = vec![Vec::new(), Vec::new()];
    for i in 0..12i64 {
        // Runs: 1 video sample, then 2 audio samples.
        let body = vec![0x65, i as u8, 0xaa, 0xbb];
        let mut au = Vec::new();
        h264::push_annexb(&mut au, &body);
        w.write(&pkt(0, i * 3600, i * 3600, i % 6 == 0, au)).unwrap();
        samples[0].push([&[0, 0, 0, 4][..], &body].concat());
        for k in 0..2 {
            let n = i * 2 + k;
            let a = vec![0x21, n as u8, 7, 7, 7];
            w.write(&pkt(1, n * 1024 - 2048, n * 1024 - 2048, true, a.clone())).unwrap();
            samples[1].push(a);
        }
    }
    w.finish().unwrap();
    (fs::read(out).unwrap(), samples)
}

/// Check every chunk offset points at its samples.
fn check_offsets(f: &[u8], samples: &[Vec<Vec<u8>>], want_co64: bool) {
    for (ti, ts) in samples.iter().enumerate() {
        let stbl = stbl_of(f, ti);
        assert_eq!(has_child(stbl, b"co64"), want_co64);
        assert_eq!(has_child(stbl, b"stco"), !want_co64);
        let offsets: Vec<u64> = if want_co64 {
            let b = child(stbl, b"co64", 0);
            (0..be32(&b[4..]) as usize)
                .map(|i| u64::from_be_bytes(b[8 + 8 * i..16 + 8 * i].try_into().unwrap()))
                .collect()
        } else {
            let b = child(stbl, b"stco", 0);
            (0..be32(&b[4..]) as usize).map(|i| be32(&b[8 + 4 * i..]) as u64).collect()
        };
        let stsc = child(stbl, b"stsc", 0);
        let entries: Vec<(u32, u32)> =
            (0..be32(&stsc[4..]) as usize).map(|i| (be32(&stsc[8 + 12 * i..]), be32(&stsc[12 + 12 * i..]))).collect();
        let mut s = 0;
        for (ci, &off) in offsets.iter().enumerate() {
            let per = entries.iter().rev().find(|e| e.0 as usize <= ci + 1).unwrap().1;
            let mut pos = off as usize;
            for _ in 0..per {
                let want = &ts[s];
                assert_eq!(&f[pos..pos + want.len()], &want[..], "track {ti} sample {s}");
                pos += want.len();
                s += 1;
            }
        }
        assert_eq!(s, ts.len());
    }
}

#[test]
fn stco_then_co64_and_largesize_mdat() {
    let dir = tmpdir("co64");
    let (f, samples) = mux_synthetic(&dir.join("a.mp4"), DEFAULT_LIMITS);
    check_offsets(&f, &samples, false);
    // stsc: video chunks of 1, audio chunks of 2: one entry each.
    assert_eq!(&child(stbl_of(&f, 1), b"stsc", 0)[4..], &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1]);
    // Small limits: offsets beyond 100 need co64, mdat beyond 200 bytes needs largesize.
    let out = dir.join("b.mp4");
    let (g, samples) = mux_synthetic(&out, Limits { stco_max: 100, box32_max: 200 });
    check_offsets(&g, &samples, true);
    let mdat_at = g.len() - (12 * 8 + 24 * 5) - 16;
    assert_eq!(&g[mdat_at..mdat_at + 8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
    assert_eq!(u64::from_be_bytes(g[mdat_at + 8..mdat_at + 16].try_into().unwrap()), 16 + 12 * 8 + 24 * 5);
    if ffmpeg_available() {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>(),
            ["12", "24"],
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn edit_lists_and_ctts() {
    let dir = tmpdir("edits");
    // Audio with 2048 priming samples: one edit, media_time 2048.
    let (f, _) = mux_synthetic(&dir.join("a.mp4"), DEFAULT_LIMITS);
    let trak = child(child(&f, b"moov", 0), b"trak", 1);
    let elst = child(child(trak, b"edts", 0), b"elst", 0);
    // 24 frames * 1024 - 2048 = 22528 samples = 469.33 ms -> 469.
    assert_eq!(elst, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0xd5, 0, 0, 0x08, 0, 0, 1, 0, 0]);
    let mdhd = child(child(trak, b"mdia", 0), b"mdhd", 0);
    assert_eq!(be32(&mdhd[12..]), 48_000);
    assert_eq!(be32(&mdhd[16..]), 24 * 1024);
    assert!(!has_child(stbl_of(&f, 1), b"ctts"));
    // Video: 12 frames of 3600 from 0: elst 480 ms from media time 0.
    let trak = child(child(&f, b"moov", 0), b"trak", 0);
    let elst = child(child(trak, b"edts", 0), b"elst", 0);
    assert_eq!(elst, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0]);
    let mvhd = child(child(&f, b"moov", 0), b"mvhd", 0);
    assert_eq!((be32(&mvhd[12..]), be32(&mvhd[16..])), (1000, 480));

    // B-frame style video: dts from -7200, pts from 0, one negative offset -> ctts v1;
    // a late start (pts 9000 = 100 ms) -> empty edit.
    let out = dir.join("b.mp4");
    let mut v = video_info();
    v.config = Bytes::from(AvcConfig::from_parameter_sets(vec![SPS.to_vec()], vec![PPS.to_vec()]).unwrap().to_bytes());
    let mut w = Mp4Writer::create(&out, &[v.clone()]).unwrap();
    let au = idr_au(false);
    // decode order I P B B: pts 0, 10800, 3600, 7200 relative; dts -7200 step 3600.
    for (i, p) in [0i64, 10800, 3600, 7200].into_iter().enumerate() {
        w.write(&pkt(0, p + 9000, i as i64 * 3600 - 7200 + 9000, i == 0, au.clone())).unwrap();
    }
    w.finish().unwrap();
    let f = fs::read(&out).unwrap();
    let trak = child(child(&f, b"moov", 0), b"trak", 0);
    let elst = child(child(trak, b"edts", 0), b"elst", 0);
    // empty edit 100 ms; then 4 frames (160 ms) from media time 9000 - 1800 = 7200.
    assert_eq!(
        elst,
        &[
            0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 100, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 160, 0, 0, 0x1c, 0x20,
            0, 1, 0, 0
        ]
    );
    let ctts = child(stbl_of(&f, 0), b"ctts", 0);
    // offsets pts - dts: 7200, 14400, 3600, 3600 -> version 0 runs (1,7200) (1,14400) (2,3600)
    assert_eq!(
        ctts,
        &[
            0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0x1c, 0x20, 0, 0, 0, 1, 0, 0, 0x38, 0x40, 0, 0, 0, 2, 0, 0, 0x0e,
            0x10
        ]
    );
    let tkhd = child(trak, b"tkhd", 0);
    assert_eq!(be32(&tkhd[20..]), 260);

    // Negative composition offset -> ctts version 1.
    let out = dir.join("c.mp4");
    let mut w = Mp4Writer::create(&out, &[v]).unwrap();
    w.write(&pkt(0, 0, 0, true, au.clone())).unwrap();
    w.write(&pkt(0, 0, 3600, false, au.clone())).unwrap();
    w.finish().unwrap();
    let f = fs::read(&out).unwrap();
    let ctts = child(stbl_of(&f, 0), b"ctts", 0);
    assert_eq!(&ctts[..4], &[1, 0, 0, 0]);
    assert_eq!(&ctts[4..20], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&ctts[20..24], &(-3600i32).to_be_bytes());
}

#[test]
fn track_duration_is_its_end_rounded_once() {
    // Audio starting 1024 samples late (21.33 ms -> empty edit 21) and presenting 25 frames
    // (533.33 ms): it ends at 554.67 ms, so tkhd and mvhd say 555 and the edits sum to it
    // (rounding each part alone would give 21 + 533 = 554).
    let dir = tmpdir("duration-round");
    let out = dir.join("a.mp4");
    let mut w = Mp4Writer::create(&out, &[audio_info(0)]).unwrap();
    for i in 0..25i64 {
        let t = 1024 + i * 1024;
        w.write(&Packet { duration: 1024, ..pkt(0, t, t, true, vec![0x21, 0x10, 0x04]) }).unwrap();
    }
    w.finish().unwrap();
    let f = fs::read(&out).unwrap();
    let trak = child(child(&f, b"moov", 0), b"trak", 0);
    let elst = child(child(trak, b"edts", 0), b"elst", 0);
    assert_eq!(be32(&elst[4..]), 2);
    assert_eq!((be32(&elst[8..]), be32(&elst[12..])), (21, u32::MAX));
    assert_eq!((be32(&elst[20..]), be32(&elst[24..])), (534, 0));
    assert_eq!(be32(&child(trak, b"tkhd", 0)[20..]), 555);
    let mvhd = child(child(&f, b"moov", 0), b"mvhd", 0);
    assert_eq!(be32(&mvhd[16..]), 555);
    let mdhd = child(child(trak, b"mdia", 0), b"mdhd", 0);
    assert_eq!(be32(&mdhd[16..]), 25 * 1024);
}

#[test]
fn writer_is_send() {
    fn send<T: Send>() {}
    send::<Mp4Writer>();
}

#[test]
fn audio_in_90khz_is_rescaled_to_the_sample_rate() {
    let dir = tmpdir("rescale");
    let out = dir.join("a.mp4");
    let mut a = audio_info(0);
    a.timebase = 90_000;
    a.sample_rate = 44_100;
    a.config = Bytes::from_static(&[0x12, 0x10]);
    let mut w = Mp4Writer::create(&out, &[a]).unwrap();
    // 1024-sample frames at 44.1 kHz in 90 kHz ticks (2089.8 each, rounded), priming 1024.
    for k in 0..100i64 {
        let t = rescale(k * 1024 - 1024, 44_100, 90_000);
        w.write(&pkt(0, t, t, true, vec![0x21, 1])).unwrap();
    }
    w.finish().unwrap();
    let f = fs::read(&out).unwrap();
    let stbl = stbl_of(&f, 0);
    assert_eq!(child(stbl, b"stts", 0), &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 4, 0]);
    let trak = child(child(&f, b"moov", 0), b"trak", 0);
    let mdhd = child(child(trak, b"mdia", 0), b"mdhd", 0);
    assert_eq!(be32(&mdhd[12..]), 44_100);
    let elst = child(child(trak, b"edts", 0), b"elst", 0);
    // 99 * 1024 samples = 2298.8 ms -> 2299, from media time 1024.
    assert_eq!(&elst[8..16], &[0, 0, 0x08, 0xfb, 0, 0, 4, 0]);
}

#[test]
fn max_bitrate_uses_one_second_windows() {
    let dir = tmpdir("br");
    let out = dir.join("a.mp4");
    let mut w = Mp4Writer::create(&out, &[audio_info(0)]).unwrap();
    // 100 frames of 100 bytes except a 1000-byte burst of frames 10..20.
    for k in 0..100i64 {
        let n = if (10..20).contains(&k) { 1000 } else { 100 };
        w.write(&pkt(0, k * 1024, k * 1024, true, vec![0x21; n])).unwrap();
    }
    w.finish().unwrap();
    let f = fs::read(&out).unwrap();
    let stsd = child(stbl_of(&f, 0), b"stsd", 0);
    let mp4a = child(&stsd[8..], b"mp4a", 0);
    let esds = child(&mp4a[28..], b"esds", 0);
    // esds: 4 (fullbox) + 5 (ES tag+size) + 3 + 5 (DCD tag+size) + 2, then bufferSizeDB.
    let d = &esds[19..];
    assert_eq!(&d[..3], &[0, 0x03, 0xe8]); // largest AU: 1000
                                           // A window (t - 1 s, t] holds 47 frame starts (46.875 frames long): at most the
                                           // 10 big ones + 37 small = 13700 bytes.
    assert_eq!(be32(&d[3..]), 13_700 * 8);
    // avg: 19000 bytes over 102400 samples at 48 kHz.
    assert_eq!(be32(&d[7..]), (19_000u64 * 8 * 48_000 / 102_400) as u32);
}

// ---- integration tests with FFmpeg ----

pub(crate) fn ffmpeg_available() -> bool {
    let ok = Path::new("/usr/bin/ffmpeg").exists() && Path::new("/usr/bin/ffprobe").exists();
    if !ok {
        eprintln!("note: /usr/bin/ffmpeg or ffprobe missing; skipping the FFmpeg checks");
    }
    ok
}

pub(crate) fn run(cmd: &mut Command) -> std::process::Output {
    let o = cmd.output().expect("spawn ffmpeg");
    assert!(o.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&o.stderr));
    o
}

/// Split a raw Annex B stream into access units (ITU-T H.264 §7.4.1.2.3: an AUD, SPS, PPS
/// or SEI after a VCL NAL, or a slice with first_mb_in_slice 0, starts a new unit).
fn split_access_units(data: &[u8]) -> Vec<Vec<u8>> {
    let mut aus: Vec<Vec<u8>> = Vec::new();
    let mut cur = Vec::new();
    let mut have_vcl = false;
    for nal in h264::annexb_nals(data) {
        let t = h264::nal_type(nal);
        let vcl = t == 1 || t == 5;
        let starts = if vcl { have_vcl && nal.len() > 1 && nal[1] & 0x80 != 0 } else { have_vcl && matches!(t, 6..=9) };
        if starts {
            aus.push(std::mem::take(&mut cur));
            have_vcl = false;
        }
        have_vcl |= vcl;
        h264::push_annexb(&mut cur, nal);
    }
    if !cur.is_empty() {
        aus.push(cur);
    }
    aus
}

/// Raw AAC frames of an ADTS stream.
fn split_adts(data: &[u8]) -> (crate::codec::aac::AdtsHeader, Vec<Vec<u8>>) {
    let mut frames = Vec::new();
    let mut i = 0;
    let mut first = None;
    while i < data.len() {
        let h = crate::codec::aac::AdtsHeader::parse(&data[i..]).unwrap();
        first.get_or_insert(h);
        frames.push(data[i + h.header_len..i + h.frame_len].to_vec());
        i += h.frame_len;
    }
    (first.unwrap(), frames)
}

struct Fixture {
    video: Vec<Packet>,
    audio: Vec<Vec<u8>>,
    asc: Vec<u8>,
}

/// 2 s of 160x120 25 fps x264 (`-bf bf`) via MPEG-TS (for timestamps, with AUDs) and
/// 2 s of 48 kHz stereo AAC as ADTS.
fn fixture(dir: &Path, bf: u32) -> Fixture {
    let ff = |args: &[&str]| {
        run(Command::new("ffmpeg").args(["-v", "error", "-nostdin", "-y"]).args(args).current_dir(dir));
    };
    ff(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        &bf.to_string(),
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mpegts",
        "v.ts",
    ]);
    ff(&["-i", "v.ts", "-c", "copy", "-f", "h264", "v.h264"]);
    ff(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=2",
        "-ac",
        "2",
        "-c:a",
        "aac",
        "-f",
        "adts",
        "a.aac",
    ]);
    let o = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,dts,flags",
            "-of",
            "csv=p=0",
            "v.ts",
        ])
        .current_dir(dir));
    let times: Vec<(i64, i64, bool)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].starts_with('K'))
        })
        .collect();
    let aus = split_access_units(&fs::read(dir.join("v.h264")).unwrap());
    assert_eq!(aus.len(), times.len(), "access units vs packets");
    assert_eq!(aus.len(), 50);
    let min_pts = times.iter().map(|t| t.0).min().unwrap();
    let video = aus
        .into_iter()
        .zip(times)
        .map(|(au, (pts, dts, key))| Packet {
            stream: 0,
            pts: pts - min_pts,
            dts: dts - min_pts,
            duration: 3600,
            keyframe: key,
            data: Bytes::from(au),
        })
        .collect();
    let (h, audio) = split_adts(&fs::read(dir.join("a.aac")).unwrap());
    Fixture { video, audio, asc: h.config.to_bytes() }
}

fn probe(out: &Path) -> std::collections::HashMap<String, String> {
    let o = run(Command::new("ffprobe").args(["-v", "error", "-show_streams", "-show_format", "-of", "flat"]).arg(out));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn num(p: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    p.get(k).unwrap_or_else(|| panic!("ffprobe: no {k}: {p:?}")).parse().unwrap()
}

fn decode_errors(out: &Path) -> String {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(out)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn av_roundtrip(bf: u32, video_config_inband: bool) {
    if !ffmpeg_available() {
        return;
    }
    let dir = tmpdir(&format!("av-bf{bf}"));
    let fx = fixture(&dir, bf);
    if bf > 0 {
        assert!(fx.video.iter().any(|p| p.pts != p.dts), "fixture has no B-frames");
        assert!(fx.video[0].dts < 0);
    }
    let mut v = video_info();
    if !video_config_inband {
        let nals: Vec<&[u8]> = h264::annexb_nals(&fx.video[0].data).collect();
        let sps = nals.iter().filter(|n| h264::nal_type(n) == 7).map(|n| n.to_vec()).collect();
        let pps = nals.iter().filter(|n| h264::nal_type(n) == 8).map(|n| n.to_vec()).collect();
        v.config = Bytes::from(AvcConfig::from_parameter_sets(sps, pps).unwrap().to_bytes());
        v.width = 160;
        v.height = 120;
    }
    let mut a = audio_info(1);
    a.config = Bytes::from(fx.asc.clone());
    // FFmpeg's AAC encoder primes with 1024 samples; 2 s = 96000 samples are meant.
    a.presentation_end = Some(96_000);
    let audio: Vec<Packet> = fx
        .audio
        .iter()
        .enumerate()
        .map(|(k, d)| Packet {
            stream: 1,
            pts: k as i64 * 1024 - 1024,
            dts: k as i64 * 1024 - 1024,
            duration: 1024,
            keyframe: true,
            data: Bytes::from(d.clone()),
        })
        .collect();
    // Interleave by decode time.
    let mut all: Vec<Packet> = fx.video.iter().cloned().chain(audio).collect();
    all.sort_by(|x, y| {
        let tx = rescale(x.dts, if x.stream == 0 { 90_000 } else { 48_000 }, 90_000);
        let ty = rescale(y.dts, if y.stream == 0 { 90_000 } else { 48_000 }, 90_000);
        tx.cmp(&ty).then(x.stream.cmp(&y.stream))
    });
    let out = dir.join("out.mp4");
    let mut w = Mp4Writer::create(&out, &[v, a]).unwrap();
    for p in &all {
        w.write(p).unwrap();
    }
    let n = w.finish().unwrap();
    assert_eq!(fs::metadata(&out).unwrap().len(), n);

    let p = probe(&out);
    assert_eq!(p["streams.stream.0.codec_name"], "h264");
    assert_eq!(p["streams.stream.1.codec_name"], "aac");
    assert_eq!(p["streams.stream.0.width"], "160");
    assert_eq!(p["streams.stream.1.sample_rate"], "48000");
    assert_eq!(p["streams.stream.1.channels"], "2");
    for s in 0..2 {
        let st = num(&p, &format!("streams.stream.{s}.start_time"));
        assert!(st.abs() < 1e-6, "stream {s} start_time {st}");
    }
    let vd = num(&p, "streams.stream.0.duration");
    assert!((vd - 2.0).abs() <= 0.04, "video duration {vd}");
    let ad = num(&p, "streams.stream.1.duration");
    assert!((ad - 2.0).abs() <= 1024.0 / 48000.0, "audio duration {ad}");
    let fd = num(&p, "format.duration");
    assert!((fd - 2.0).abs() <= 0.04, "format duration {fd}");
    assert_eq!(p["streams.stream.0.nb_frames"], "50");
    assert_eq!(decode_errors(&out), "");
    // Every picture decodes and is presented.
    let o = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&out));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "50");
}

#[test]
fn ffmpeg_av_no_bframes() {
    av_roundtrip(0, false);
}

#[test]
fn ffmpeg_av_bframes_inband_parameter_sets() {
    av_roundtrip(2, true);
}

#[test]
fn ffmpeg_aac_priming_is_trimmed() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tmpdir("priming");
    let fx = fixture_audio_only(&dir);
    let out = dir.join("out.m4a");
    let mut a = audio_info(0);
    a.config = Bytes::from(fx.1);
    let mut w = Mp4Writer::create(&out, &[a]).unwrap();
    let n = fx.0.len() as i64;
    for (k, d) in fx.0.into_iter().enumerate() {
        let t = -2048 + k as i64 * 1024;
        w.write(&Packet { stream: 0, pts: t, dts: t, duration: 1024, keyframe: true, data: Bytes::from(d) }).unwrap();
    }
    w.finish().unwrap();
    let intended = n * 1024 - 2048;
    let o = run(Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(&out)
        .args(["-f", "s16le", "-ac", "2", "-"]));
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len() as i64 / 4, intended, "decoded samples");
    // The count alone cannot tell skipped priming from a cut tail: the decode must be the
    // raw ADTS decode (which skips nothing) without its first 2048 samples.
    let reference = run(Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i", "a.aac", "-f", "s16le", "-ac", "2", "-"])
        .current_dir(&*dir))
    .stdout;
    assert_eq!(reference.len() as i64 / 4, n * 1024);
    assert!(o.stdout == reference[2048 * 4..], "decoded audio is not the input minus its first 2048 samples");
    let p = probe(&out);
    assert!(num(&p, "streams.stream.0.start_time").abs() < 1e-6);
    let d = num(&p, "streams.stream.0.duration");
    assert!((d - intended as f64 / 48000.0).abs() < 0.001, "duration {d} vs {}", intended as f64 / 48000.0);
}

fn fixture_audio_only(dir: &Path) -> (Vec<Vec<u8>>, Vec<u8>) {
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=2",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-f",
            "adts",
            "a.aac",
        ])
        .current_dir(dir));
    let (h, frames) = split_adts(&fs::read(dir.join("a.aac")).unwrap());
    (frames, h.config.to_bytes())
}
