//! Shared by the Rust benchmarks (`mod util;`): the encoder driven the way the pipeline
//! drives it.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::bounded;
use media::encode::{ChunkEncoder, H264Settings, VideoChunk};
use media::frame::Picture;

/// 25 fps settings for a `w`x`h` canvas at the default bitrate, GOP 50 (the pipeline's 2 s).
pub fn settings(w: u32, h: u32) -> H264Settings {
    H264Settings::new(w, h, 25, 1)
}

/// Encode `pics` as GOP chunks on a [`ChunkEncoder`] of `threads` workers (chunks handed
/// over one at a time, as the pipeline does): frames per second.
pub fn encode_fps(threads: usize, pics: &[Arc<Picture>], s: H264Settings) -> f64 {
    let enc = ChunkEncoder::new(s, threads).unwrap();
    let (tx, rx) = bounded::<VideoChunk>(0);
    let (otx, orx) = bounded(threads + 1);
    let gop = s.gop as usize;
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        sc.spawn(|| enc.run(rx, otx));
        sc.spawn(|| {
            for (i, c) in pics.chunks(gop).enumerate() {
                tx.send(VideoChunk::from_pictures(i as u64, (i * gop) as u64, c.to_vec())).unwrap();
            }
            drop(tx);
        });
        let n: usize = orx.iter().map(|r| r.unwrap().packets.len()).sum();
        assert_eq!(n, pics.len());
    });
    pics.len() as f64 / t0.elapsed().as_secs_f64()
}
