//! Unit tests of `crate::demux::adts` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use std::io::Cursor;

fn frame(k: usize, payload: usize, cfg: &AudioConfig) -> Vec<u8> {
    let mut v = AdtsHeader::write(cfg, payload).to_vec();
    v.extend((0..payload).map(|j| ((k * 13 + j * 3) % 200 + 20) as u8));
    v
}

fn stream(n: usize, cfg: &AudioConfig) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut b = Vec::new();
    let mut raws = Vec::new();
    for k in 0..n {
        let f = frame(k, 50 + (k * 37) % 400, cfg);
        raws.push(f[7..].to_vec());
        b.extend_from_slice(&f);
    }
    (b, raws)
}

fn id3(body: usize) -> Vec<u8> {
    let mut v = b"ID3\x04\x00\x00".to_vec();
    let s = body as u32;
    v.extend_from_slice(&[(s >> 21) as u8 & 0x7f, (s >> 14) as u8 & 0x7f, (s >> 7) as u8 & 0x7f, s as u8 & 0x7f]);
    // A body containing things that look like ADTS syncwords.
    v.extend((0..body).map(|i| {
        if i % 50 == 0 {
            0xff
        } else if i % 50 == 1 {
            0xf1
        } else {
            i as u8 & 0x7f
        }
    }));
    v
}

fn demux(b: Vec<u8>) -> Result<(Vec<StreamInfo>, Vec<Packet>)> {
    let mut d = AdtsDemuxer::from_reader(Cursor::new(b))?;
    let mut v = Vec::new();
    while let Some(p) = d.next_packet()? {
        v.push(p);
    }
    Ok((d.streams().to_vec(), v))
}

#[test]
fn demuxes_frames_with_id3_and_timestamps() {
    let cfg = AudioConfig::lc(44100, 2);
    let (b, raws) = stream(60, &cfg);
    let mut input = id3(300);
    input.extend_from_slice(&b);
    assert!(probe(&input));
    assert!(probe(&b));
    let (st, pk) = demux(input).unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].codec.clone(), st[0].timebase, st[0].sample_rate, st[0].channels), (Codec::Aac, 44100, 44100, 2));
    assert_eq!(&st[0].config[..], &[0x12, 0x10]);
    assert_eq!(pk.len(), 60);
    for (k, p) in pk.iter().enumerate() {
        assert_eq!(&p.data[..], &raws[k][..]);
        assert_eq!((p.pts, p.dts, p.duration, p.keyframe), (k as i64 * 1024, k as i64 * 1024, 1024, true));
    }
}

#[test]
fn resyncs_on_garbage_and_ends_on_truncation() {
    let cfg = AudioConfig::lc(48000, 1);
    let (b, raws) = stream(20, &cfg);
    let cut = b.iter().enumerate().filter(|(i, _)| b[*i..].starts_with(&[0xff, 0xf1])).nth(10).unwrap().0;
    let mut input = vec![0u8, 1, 2, 0xff, 0xf1, 0x4c, 0x80, 0x00, 0x1f, 0xfc, 9, 9]; // garbage with a false header
    input.extend_from_slice(&b[..cut]);
    input.extend_from_slice(&[0xff, 0xf1, 0x00, 0xff, 0xff, 0xff, 0xff, 0x13, 0x37]); // garbage
    input.extend_from_slice(&b[cut..b.len() - 5]); // last frame truncated
    let (_, pk) = demux(input).unwrap();
    assert_eq!(pk.len(), 19);
    for (k, p) in pk.iter().enumerate() {
        assert_eq!(&p.data[..], &raws[k][..], "frame {k}");
    }
    // Frame numbering continues (pts counts frames read, not gaps).
    assert_eq!(pk[18].pts, 18 * 1024);
}

#[test]
fn errors_and_no_panics() {
    assert!(matches!(demux(Vec::new()), Err(Error::NoMedia(_))));
    assert!(matches!(demux(b"hello world, not audio".to_vec()), Err(Error::NoMedia(_))));
    assert!(matches!(demux(id3(100)), Err(Error::NoMedia(_))));
    assert!(!probe(&[]));
    assert!(!probe(&id3(10)));
    assert!(!probe(&[0x47; 400]));
    let cfg = AudioConfig::lc(48000, 2);
    let (b, _) = stream(12, &cfg);
    let first_len = AdtsHeader::parse(&b).unwrap().frame_len;
    assert!(!probe(&b[..first_len])); // only one header
                                      // Truncated at every 13th offset: never panics; a whole first frame gives packets.
    for cut in (0..b.len()).step_by(13) {
        match demux(b[..cut].to_vec()) {
            Ok((_, pk)) => assert!(cut >= first_len && !pk.is_empty()),
            Err(e) => assert!(cut < first_len && matches!(e, Error::NoMedia(_)), "{cut}: {e}"),
        }
    }
    // Random bytes and corrupted streams.
    let mut seed = 7u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let noise: Vec<u8> = (0..100_000).map(|_| rnd() as u8).collect();
    let _ = demux(noise);
    for _ in 0..200 {
        let mut c = b.clone();
        for _ in 0..1 + rnd() % 10 {
            let i = rnd() % c.len();
            c[i] = rnd() as u8;
        }
        let _ = demux(c);
    }
}

/// Reads one byte at a time: exercises incremental buffering.
struct Trickle(Vec<u8>, usize);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1 >= self.0.len() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[self.1];
        self.1 += 1;
        Ok(1)
    }
}

#[test]
fn streaming_reader() {
    let cfg = AudioConfig::lc(22050, 2);
    let (b, raws) = stream(30, &cfg);
    let mut input = id3(5000);
    input.extend_from_slice(&b);
    let mut d = AdtsDemuxer::from_reader(Trickle(input, 0)).unwrap();
    let mut n = 0;
    while let Some(p) = d.next_packet().unwrap() {
        assert_eq!(&p.data[..], &raws[n][..]);
        n += 1;
    }
    assert_eq!(n, 30);
}

#[test]
fn matches_ffprobe() {
    let ffprobe = std::path::Path::new("/usr/bin/ffprobe").exists() && std::path::Path::new("/usr/bin/ffmpeg").exists();
    if ffprobe {
        let dir = std::env::temp_dir().join(format!("stitch-adts-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.aac");
        let st = std::process::Command::new("/usr/bin/ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1"])
            .args(["-c:a", "aac"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let probe_out = std::process::Command::new("/usr/bin/ffprobe")
            .args(["-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0"])
            .arg(&out)
            .output()
            .unwrap();
        let sizes: Vec<usize> = String::from_utf8_lossy(&probe_out.stdout)
            .lines()
            .filter_map(|l| l.trim_end_matches(',').parse().ok())
            .collect();
        let mut d = AdtsDemuxer::open(&out).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((d.streams()[0].sample_rate, d.streams()[0].channels), (44100, 1));
        let mut got = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            got.push(p.data.len() + 7);
        }
        assert_eq!(got, sizes, "ADTS frame sizes vs ffprobe");
    } else {
        eprintln!("skipped ffprobe comparison: /usr/bin/ffprobe not installed");
    }
}

#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
fn corpus_aac_files() {
    let root = crate::testutil::corpus("");
    let root = root.as_path();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).expect("corpus manifest");
    let rd = std::fs::read_dir(root.join("media")).expect("corpus/media");
    let mut files: Vec<_> =
        rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "aac")).collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let ok = manifest.lines().any(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.first() == Some(&format!("media/{name}").as_str()) && f.get(9) == Some(&"OK")
        });
        let head = std::fs::read(&path).unwrap();
        let mut d = match AdtsDemuxer::open(&path) {
            Ok(d) => d,
            Err(e) => {
                println!("{name}: open error: {e} (probe {})", probe(&head));
                assert!(!ok, "{name} is listed OK: {e}");
                continue;
            }
        };
        let s = d.streams()[0].clone();
        let mut n = 0;
        let mut last = -1;
        let mut err = None;
        loop {
            match d.next_packet() {
                Ok(Some(p)) => {
                    assert!(p.dts > last, "{name}: dts not increasing");
                    last = p.dts;
                    n += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let secs = last as f64 / s.timebase as f64;
        println!(
            "{name}: {} probe={} aac {}Hz/{}ch cfg={:02x?} {n} packets {secs:.3}s{}",
            if ok { "OK" } else { "--" },
            probe(&head),
            s.sample_rate,
            s.channels,
            &s.config[..],
            err.map(|e| format!(" error: {e}")).unwrap_or_default()
        );
        if ok {
            assert!(n > 0 && probe(&head), "{name}");
        }
    }
}
