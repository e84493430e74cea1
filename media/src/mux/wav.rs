//! WAV (RIFF/WAVE, 16-bit PCM) writer for the mixed-audio export (`--export audio`: 16 kHz
//! mono, the format speech-to-text tools want).
//!
//! Layout (Microsoft RIFF, "WAVE" form): `RIFF <size> WAVE`, a 16-byte `fmt ` chunk
//! (format 1 = PCM, channels, rate, byte rate, block align, 16 bits), then `data <size>`
//! and the little-endian samples. The sizes are written as 0 first and patched by
//! `WavWriter::finish`; the file is written as `<out>.part` and renamed when complete.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes a 16-bit PCM WAV file (see the module documentation); unfinished files are
/// never left under the final name.
pub(crate) struct WavWriter {
    path: PathBuf,
    part: PathBuf,
    out: Option<BufWriter<File>>,
    channels: u16,
    samples: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io { path: path.to_path_buf(), source: e }
}

impl WavWriter {
    /// Create `<path>.part` and write the header for `channels` (at least 1) at `sample_rate` Hz.
    pub fn create(path: &Path, sample_rate: u32, channels: u16) -> Result<WavWriter> {
        let part = super::part_path(path);
        let f = File::create(&part).map_err(io(&part))?;
        let mut out = BufWriter::new(f);
        let ch = channels.max(1);
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&ch.to_le_bytes());
        h.extend_from_slice(&sample_rate.to_le_bytes());
        h.extend_from_slice(&(sample_rate * ch as u32 * 2).to_le_bytes());
        h.extend_from_slice(&(ch * 2).to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data\0\0\0\0");
        out.write_all(&h).map_err(io(&part))?;
        Ok(WavWriter { path: path.to_path_buf(), part, out: Some(out), channels: ch, samples: 0 })
    }

    /// Interleaved samples in [-1, 1] (clamped).
    pub fn write(&mut self, samples: &[f32]) -> Result<()> {
        let Some(out) = self.out.as_mut() else { return Ok(()) };
        let mut buf = Vec::with_capacity(samples.len() * 2);
        for &s in samples {
            buf.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
        }
        out.write_all(&buf).map_err(io(&self.part))?;
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Patch the sizes and rename into place. Returns the number of sample frames.
    pub fn finish(mut self) -> Result<u64> {
        let Some(out) = self.out.take() else { return Ok(0) };
        let mut f = out.into_inner().map_err(|e| Error::Io { path: self.part.clone(), source: e.into_error() })?;
        let data = self.samples * 2;
        if data > u32::MAX as u64 - 36 {
            return Err(Error::Encode(format!("{}: audio too long for WAV (4 GiB)", self.path.display())));
        }
        f.seek(SeekFrom::Start(4)).map_err(io(&self.part))?;
        f.write_all(&((36 + data) as u32).to_le_bytes()).map_err(io(&self.part))?;
        f.seek(SeekFrom::Start(40)).map_err(io(&self.part))?;
        f.write_all(&(data as u32).to_le_bytes()).map_err(io(&self.part))?;
        f.sync_all().map_err(io(&self.part))?;
        drop(f);
        std::fs::rename(&self.part, &self.path).map_err(io(&self.path))?;
        Ok(self.samples / self.channels as u64)
    }
}

impl Drop for WavWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_samples() {
        let d = std::env::temp_dir().join(format!("stitch-wav-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("a.wav");
        let mut w = WavWriter::create(&p, 16000, 1).unwrap();
        w.write(&[0.0, 0.5, -1.0, 2.0]).unwrap();
        assert_eq!(w.finish().unwrap(), 4);
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 36 + 8);
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 16000);
        assert_eq!(u32::from_le_bytes(b[40..44].try_into().unwrap()), 8);
        let s: Vec<i16> = b[44..].chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(s, vec![0, 16384, -32767, 32767]);
        assert!(!super::super::part_path(&p).exists());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let d = std::env::temp_dir().join(format!("stitch-wav2-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("b.wav");
        let w = WavWriter::create(&p, 16000, 1).unwrap();
        drop(w);
        assert!(!p.exists() && !super::super::part_path(&p).exists());
        let _ = std::fs::remove_dir_all(d);
    }
}
