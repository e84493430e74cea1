//! Unit tests of `Muxer::to_writer` (kept in `tests/` beside the code: they run Debian's
//! ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use crate::mux::fmp4::tests::{decode_errors, demux_all, probe_flat, probe_rows};
use crate::mux::mp4::tests::{children, ffmpeg_available};
use std::sync::{Arc, Mutex};

/// A `Write + Send` whose bytes the test can read after the muxer dropped it.
#[derive(Clone, Default)]
pub(crate) struct Shared(pub(crate) Arc<Mutex<Vec<u8>>>);
impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn to_writer(kind: Container) -> (Vec<StreamInfo>, Vec<Packet>, Vec<u8>, u64) {
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    let sink = Shared::default();
    let mut m = Muxer::to_writer(kind, Path::new("standard output"), Box::new(sink.clone()), &streams).unwrap();
    assert_eq!(m.kind(), kind);
    for p in &pkts {
        // As the pipeline does for TS: no more than one frame of AAC priming.
        if kind == Container::Ts && p.stream == 1 && p.pts < -1024 {
            continue;
        }
        m.write(p).unwrap();
    }
    let n = m.finish().unwrap();
    let data = sink.0.lock().unwrap().clone();
    (streams, pkts, data, n)
}

fn count(rows: &[Vec<String>], stream: &str) -> usize {
    rows.iter().filter(|r| r[0] == stream).count()
}

#[test]
fn ts_to_a_writer() {
    let (_, pkts, data, n) = to_writer(Container::Ts);
    assert_eq!(n, data.len() as u64, "finish returns the bytes written");
    assert!(!data.is_empty() && data.len() % ts::TS_PACKET == 0);
    assert!(data.chunks(ts::TS_PACKET).all(|p| p[0] == 0x47), "sync byte every 188 bytes");
    if !ffmpeg_available() {
        return;
    }
    let p = probe_flat(&data);
    assert_eq!(p["format.format_name"], "mpegts");
    assert_eq!((p["streams.stream.0.codec_name"].as_str(), p["streams.stream.1.codec_name"].as_str()), ("h264", "aac"));
    let frames = probe_rows(&data, "frame=stream_index");
    assert_eq!(count(&frames, "0"), pkts.iter().filter(|p| p.stream == 0).count(), "every picture decodes");
    assert!(count(&frames, "1") > 180);
    let errs = decode_errors(&data);
    assert!(errs.trim().is_empty(), "{errs}");
}

#[test]
fn fragmented_mp4_to_a_writer() {
    let (_, pkts, data, n) = to_writer(Container::Mp4);
    assert_eq!(n, data.len() as u64, "finish returns the bytes written");
    let kinds: Vec<[u8; 4]> = children(&data).iter().map(|(t, _)| *t).collect();
    assert_eq!(&kinds[..3], &[*b"ftyp", *b"moov", *b"moof"]);
    if !ffmpeg_available() {
        return;
    }
    let frames = probe_rows(&data, "frame=stream_index");
    assert_eq!(count(&frames, "0"), pkts.iter().filter(|p| p.stream == 0).count(), "every picture decodes");
    assert_eq!(count(&frames, "1"), pkts.iter().filter(|p| p.stream == 1).count(), "every audio frame decodes");
    let errs = decode_errors(&data);
    assert!(errs.trim().is_empty(), "{errs}");
}

#[test]
fn a_closed_pipe_is_an_io_error_naming_the_stream() {
    // A real pipe whose reader has exited (the test harness, like the stitch binary,
    // ignores SIGPIPE, so the write fails with EPIPE).
    let (streams, pkts) = demux_all("a_high_bframes.mp4");
    for kind in [Container::Ts, Container::Mp4] {
        let mut child = std::process::Command::new("true")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut m = Muxer::to_writer(kind, Path::new("standard output"), Box::new(stdin), &streams).unwrap();
        child.wait().unwrap();
        let r = pkts.iter().try_for_each(|p| m.write(p)).and_then(|_| m.finish().map(|_| ()));
        match r {
            Err(crate::Error::Io { path, source }) => {
                assert_eq!(path, Path::new("standard output"));
                assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe, "{kind:?}");
            }
            other => panic!("{kind:?}: expected an I/O error naming the stream, got {other:?}"),
        }
    }
}

#[test]
fn unsupported_streams_are_refused() {
    let (mut streams, _) = demux_all("a_high_bframes.mp4");
    streams[0].codec = crate::packet::Codec::Other("hevc".into());
    for kind in [Container::Ts, Container::Mp4] {
        let r = Muxer::to_writer(kind, Path::new("-"), Box::new(std::io::sink()), &streams);
        assert!(matches!(r, Err(crate::Error::UnsupportedCodec(_))), "{kind:?}");
    }
}

#[test]
fn read_only_containers_are_refused() {
    let (streams, _) = demux_all("a_high_bframes.mp4");
    let r = Muxer::to_writer(Container::Adts, Path::new("-"), Box::new(std::io::sink()), &streams);
    assert!(matches!(r, Err(crate::Error::CannotMux(Container::Adts))));
    let dir = std::env::temp_dir().join(format!("stitch-cannot-mux-{}", std::process::id()));
    let r = Muxer::create(Container::Adts, &dir.join("a.aac"), &streams);
    assert!(matches!(r, Err(crate::Error::CannotMux(Container::Adts))));
    assert!(!dir.exists(), "nothing is written");
}
