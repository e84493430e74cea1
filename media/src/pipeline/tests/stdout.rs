//! Unit tests of `compile` writing its container to a stream instead of a file
//! ([`CompileOptions::to_stdout`]; here a test buffer stands in for standard output through
//! `compile_to`). ffprobe/ffmpeg are the oracle (tests only; product code spawns nothing).

use super::compile::compile_to;
use super::*;
use crate::mux::fmp4::tests::{decode_errors, probe_rows, testdata, ClosedAfter};
use crate::mux::tests::Shared;
use crate::time::VIDEO_HZ;
use crate::timeline::Flow;
use crate::Error;
use std::sync::atomic::AtomicBool;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stitch-pipeline-stdout-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 2 s of the basic flow on a small canvas, to a stream.
fn options(output: &Path, kind: Container) -> CompileOptions {
    CompileOptions::builder(output)
        .container(kind)
        .size(160, 96)
        .max_duration(Some(Ticks90k(2 * VIDEO_HZ as i64)))
        .threads(2)
        .to_stdout(true)
        .build()
        .unwrap()
}

#[test]
fn compile_streams_both_containers_and_leaves_output_alone() {
    let flow = Flow::load(&testdata("flow_basic.json")).unwrap();
    for kind in [Container::Mp4, Container::Ts] {
        // `output` names a folder that does not exist: with a stream it is not used at all.
        let output = Path::new("/nonexistent-stitch-folder/-");
        let sink = Shared::default();
        let r = compile_to(
            &flow,
            &options(output, kind),
            Some(Box::new(sink.clone())),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let data = sink.0.lock().unwrap().clone();
        assert_eq!(r.bytes, data.len() as u64, "{kind:?}: bytes reported = bytes written");
        assert_eq!(r.frames, 50, "2 s at 25 fps");
        assert!(!output.parent().unwrap().exists());
        match kind {
            Container::Mp4 => assert_eq!(&data[4..8], b"ftyp"),
            Container::Ts => assert!(data.chunks(188).all(|p| p[0] == 0x47)),
            Container::Adts => unreachable!("not muxed"),
        }
        if !crate::mux::mp4::tests::ffmpeg_available() {
            continue;
        }
        let frames = probe_rows(&data, "frame=stream_index,pts_time");
        let video: Vec<f64> = frames.iter().filter(|f| f[0] == "0").map(|f| f[1].parse().unwrap()).collect();
        assert_eq!(video.len(), 50, "{kind:?}: every picture decodes");
        if kind == Container::Mp4 {
            assert_eq!(video[0], 0.0, "the presentation starts at 0");
        }
        assert!(frames.iter().any(|f| f[0] == "1"), "{kind:?}: audio");
        let errs = decode_errors(&data);
        assert!(errs.trim().is_empty(), "{kind:?}: {errs}");
    }
}

#[test]
fn a_closed_stream_ends_compile_with_an_io_error_and_touches_no_file() {
    let flow = Flow::load(&testdata("flow_basic.json")).unwrap();
    let dir = tmpdir("closed");
    let output = dir.join("-");
    // A user's file where a file output would keep its partial data: must survive.
    std::fs::write(crate::mux::part_path(&output), b"user data").unwrap();
    for kind in [Container::Mp4, Container::Ts] {
        let sink = Box::new(ClosedAfter { limit: 3000, got: 0 });
        let r = compile_to(&flow, &options(&output, kind), Some(sink), &mut |_| {}, &AtomicBool::new(false));
        match r {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, Path::new(STDOUT_NAME));
                assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe);
            }
            other => panic!("{kind:?}: expected an I/O error on standard output, got {:?}", other.map(|r| r.bytes)),
        }
    }
    assert_eq!(std::fs::read(crate::mux::part_path(&output)).unwrap(), b"user data");
    assert!(!output.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
