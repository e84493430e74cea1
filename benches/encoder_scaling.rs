//! Encoder scaling: frames per second of `media::encode::ChunkEncoder` with 1 and 2 worker
//! threads on the same synthetic 720p content (moving gradient + noise, so the encoder
//! works as on camera video). Run: `cargo bench --bench encoder_scaling`.
//! Reports ratios measured in one run (this machine is noisy).

mod util;

use std::sync::Arc;

use media::frame::Picture;

fn frames(n: usize, w: u32, h: u32) -> Vec<Arc<Picture>> {
    let mut seed = 0x1234_5678u32;
    (0..n)
        .map(|i| {
            let mut p = Picture::black(w, h);
            let (y, u, v) = p.planes_mut();
            for (k, px) in y.iter_mut().enumerate() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let x = (k as u32 % w) as usize;
                let r = (k as u32 / w) as usize;
                *px = (16 + ((x + r + i * 3) % 200) as u32 + (seed >> 29)) as u8;
            }
            u.iter_mut().enumerate().for_each(|(k, c)| *c = (96 + (k + i) % 64) as u8);
            v.iter_mut().enumerate().for_each(|(k, c)| *c = (160 - (k + 2 * i) % 64) as u8);
            Arc::new(p)
        })
        .collect()
}

fn main() {
    let (w, h) = (1280, 720);
    let s = util::settings(w, h);
    let pics = frames(400, w, h);
    let _ = util::encode_fps(2, &pics[..100], s); // warm up
    let f1 = util::encode_fps(1, &pics, s);
    let f2 = util::encode_fps(2, &pics, s);
    println!("encoder 1280x720, {} frames, GOP chunks of {}", pics.len(), s.gop);
    println!("  1 thread : {f1:.1} fps");
    println!("  2 threads: {f2:.1} fps");
    println!("RATIO encoder threads 2/1 = {:.2}", f2 / f1);
    // A static canvas: the compositor hands the encoder the same picture again (Arc reuse).
    let still: Vec<Arc<Picture>> = vec![pics[0].clone(); pics.len()];
    let fs = util::encode_fps(1, &still, s);
    println!("  1 thread, static canvas (same picture every frame): {fs:.1} fps");
    println!("RATIO encoder static/moving (1 thread) = {:.2}", fs / f1);
}
