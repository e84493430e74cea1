//! What this binary is: version, git commit, built-in features and codecs (`--version`).

/// The git commit the binary was built from (12 hex digits, or `unknown`).
pub const GIT_COMMIT: &str = env!("STITCH_GIT_COMMIT");

/// Was the `ffmpeg` feature (libavcodec in-process) built in?
pub const FFMPEG: bool = cfg!(feature = "ffmpeg");

/// `stitch --version` (long form).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("STITCH_GIT_COMMIT"),
    "\nfeatures: ffmpeg: ",
    env!("STITCH_FEATURE_FFMPEG"),
    "\ndecoders: ",
    env!("STITCH_DECODERS"),
    "\nencoders: H.264 (OpenH264), AAC (FDK)",
    "\ncontainers: MP4, fragmented MP4, MPEG-TS, ADTS in; MP4, MPEG-TS out"
);
