//! [`CompileOptionsBuilder`]: defaults, setters, and a typed error (never a panic) for each
//! value out of range.

use super::*;
use crate::Container;

/// The option an invalid build names.
fn rejected(b: CompileOptionsBuilder) -> &'static str {
    match b.build() {
        Err(Error::InvalidOption { option, .. }) => option,
        Err(e) => panic!("not an InvalidOption: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

fn b() -> CompileOptionsBuilder {
    CompileOptions::builder("out.mp4")
}

#[test]
fn defaults_are_those_of_new() {
    let o = b().build().unwrap();
    let n = CompileOptions::new(Path::new("out.mp4"));
    assert_eq!((o.width, o.height, o.fps_num, o.fps_den), (n.width, n.height, n.fps_num, n.fps_den));
    assert_eq!((o.sample_rate, o.channels, o.kind), (48_000, 2, Container::Mp4));
    assert_eq!((o.start, o.max_duration, o.switch_hold), (Ticks90k::ZERO, None, n.switch_hold));
    assert!(n.validate().is_ok());
}

#[test]
fn setters_set_their_fields() {
    let o = b()
        .size(640, 360)
        .fps(30000, 1001)
        .audio(44_100, 1)
        .start(Ticks90k::from_secs_f64(1.5))
        .max_duration(Some(Ticks90k::SECOND))
        .switch_hold(Ticks90k::ZERO)
        .threads(3)
        .gop_secs(4)
        .video_bitrate(Some(500_000))
        .seek_clips(false)
        .build()
        .unwrap();
    assert_eq!((o.width, o.height, o.fps_num, o.fps_den), (640, 360, 30000, 1001));
    assert_eq!((o.sample_rate, o.channels, o.threads, o.gop_secs), (44_100, 1, 3, 4));
    assert_eq!((o.start, o.max_duration), (Ticks90k(135_000), Some(Ticks90k(90_000))));
    assert_eq!((o.video_bitrate, o.seek_clips, o.switch_hold), (Some(500_000), false, Ticks90k::ZERO));
}

#[test]
fn container_follows_the_output_unless_set() {
    assert_eq!(b().output("x.ts").build().unwrap().kind, Container::Ts);
    assert_eq!(b().container(Container::Ts).output("x.mp4").build().unwrap().kind, Container::Ts);
    // Derived options keep their container and change only what is set.
    let base = b().container(Container::Ts).size(320, 180).build().unwrap();
    let d = base.to_builder().output("y.mp4").layout(None).build().unwrap();
    assert_eq!((d.kind, d.width, d.output.as_path()), (Container::Ts, 320, Path::new("y.mp4")));
}

#[test]
fn out_of_range_values_are_typed_errors() {
    assert_eq!(rejected(b().size(1279, 720)), "size");
    assert_eq!(rejected(b().size(1280, 721)), "size");
    assert_eq!(rejected(b().size(14, 14)), "size");
    assert_eq!(rejected(b().size(0, 0)), "size");
    assert_eq!(rejected(b().size(4096, 2160)), "size");
    assert_eq!(rejected(b().fps(25, 0)), "fps");
    assert_eq!(rejected(b().fps(0, 1)), "fps");
    assert_eq!(rejected(b().fps(121, 1)), "fps");
    assert_eq!(rejected(b().audio(0, 2)), "audio");
    assert_eq!(rejected(b().audio(44_000, 2)), "audio");
    assert_eq!(rejected(b().audio(48_000, 0)), "audio");
    assert_eq!(rejected(b().audio(48_000, 6)), "audio");
    assert_eq!(rejected(b().audio_bitrate(0)), "audio_bitrate");
    assert_eq!(rejected(b().video_bitrate(Some(0))), "video_bitrate");
    assert_eq!(rejected(b().gop_secs(0)), "gop_secs");
    assert_eq!(rejected(b().threads(0)), "threads");
    assert_eq!(rejected(b().start(Ticks90k(-1))), "start");
    assert_eq!(rejected(b().max_duration(Some(Ticks90k(-90_000)))), "max_duration");
    assert_eq!(rejected(b().switch_hold(Ticks90k(-1))), "switch_hold");
    let e = b().size(1279, 720).build().err().unwrap();
    assert_eq!(e.to_string(), "invalid option size: unsupported canvas 1279x720 (even sizes from 16x16 to 3840x2160)");
    // Edges that are valid.
    assert!(b().size(16, 16).fps(120, 1).audio(8_000, 1).max_duration(Some(Ticks90k::ZERO)).build().is_ok());
    assert!(b().size(3840, 2160).fps(24000, 1001).build().is_ok());
}

#[test]
fn compile_checks_options_set_by_hand() {
    // Fields set after `build` are checked again by `compile`: an error, not a panic
    // (a zero sample rate would otherwise reach a rescale), before anything is written.
    let out = std::env::temp_dir().join(format!("stitch-builder-{}.mp4", std::process::id()));
    let mut o = CompileOptions::builder(&out).build().unwrap();
    o.sample_rate = 0;
    let flow = crate::timeline::Flow::load(&crate::testutil::testdata("flow_basic.json")).unwrap();
    let r = crate::pipeline::compile(&flow, &o, &mut |_| {}, &std::sync::atomic::AtomicBool::new(false));
    assert!(matches!(r, Err(Error::InvalidOption { option: "audio", .. })), "{:?}", r.err());
    assert!(!out.exists());
}
