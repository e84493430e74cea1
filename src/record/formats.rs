//! `stitch record -F URL`: the variants and renditions of an HLS master playlist (RFC 8216
//! §4.3.4.2 `EXT-X-STREAM-INF`, §4.3.4.1 `EXT-X-MEDIA`) as a table, like `yt-dlp -F`.
//! Only the playlist is fetched (with the recorder's headers, cookies and retries); no
//! segment. A media playlist prints one row; a direct MP4 one row with its size.

use super::{client, probe, Probe, RecordError, RecordOptions};
use crate::hls::playlist::{parse, select_variant, MasterPlaylist, MediaPlaylist, MediaType, Playlist};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Rows as columns padded to their widest cell (the last column is not padded).
fn table(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..n).map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn dash(o: Option<String>) -> String {
    o.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

/// The table for a master playlist; `*` marks the variant `--quality` picks.
pub fn master_table(m: &MasterPlaylist, quality: &super::Quality) -> String {
    let chosen = select_variant(m, quality);
    let mut rows = vec![["ID", "RESOLUTION", "BANDWIDTH", "CODECS", "FPS", "AUDIO", "SUBS", "URI"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for (i, v) in m.variants.iter().enumerate() {
        let mark = if chosen.is_some_and(|c| std::ptr::eq(c, v)) { "*" } else { "" };
        rows.push(vec![
            format!("{i}{mark}"),
            dash(v.resolution.map(|r| format!("{}x{}", r.width, r.height))),
            if v.bandwidth > 0 { format!("{}k", v.bandwidth.div_ceil(1000)) } else { "-".into() },
            dash(v.codecs.clone()),
            dash(v.frame_rate.map(|f| format!("{f}"))),
            dash(v.audio.clone()),
            dash(v.subtitles.clone()),
            v.uri.to_string(),
        ]);
    }
    let mut out = format!("{} variant(s) (* = chosen by --quality):\n", m.variants.len());
    out.push_str(&table(&rows));
    if !m.renditions.is_empty() {
        let mut rows = vec![["TYPE", "GROUP", "LANGUAGE", "NAME", "DEFAULT", "CHANNELS", "URI"]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()];
        for r in &m.renditions {
            rows.push(vec![
                match &r.media_type {
                    MediaType::Audio => "audio".into(),
                    MediaType::Video => "video".into(),
                    MediaType::Subtitles => "subtitles".into(),
                    MediaType::ClosedCaptions => "closed-captions".into(),
                    MediaType::Other(s) => s.to_ascii_lowercase(),
                },
                r.group_id.clone(),
                dash(r.language.clone()),
                r.name.clone(),
                if r.default { "yes" } else { "no" }.into(),
                dash(r.channels.clone()),
                r.uri.as_ref().map(|u| u.to_string()).unwrap_or_else(|| "(in the variant)".into()),
            ]);
        }
        out.push_str(&format!("\n{} rendition(s):\n", m.renditions.len()));
        out.push_str(&table(&rows));
    }
    out
}

/// One row for a media playlist.
pub fn media_table(pl: &MediaPlaylist, url: &url::Url) -> String {
    let dur: f64 = pl.segments.iter().map(|s| s.duration).sum();
    let fmp4 = pl.segments.iter().any(|s| s.map.is_some());
    let rows = vec![
        ["ID", "TYPE", "SEGMENTS", "DURATION", "CONTAINER", "URI"].iter().map(|s| s.to_string()).collect(),
        vec![
            "0".into(),
            if pl.is_live() { "live" } else { "vod" }.into(),
            pl.segments.len().to_string(),
            format!("{dur:.1} s"),
            if fmp4 { "fmp4" } else { "ts" }.into(),
            url.to_string(),
        ],
    ];
    format!("a media playlist (no variants to choose from):\n{}", table(&rows))
}

/// Fetch `opts.url` and describe what can be recorded from it. Blocking.
pub fn list_formats(opts: &RecordOptions, stop: Arc<AtomicBool>) -> Result<String, RecordError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RecordError::Failure(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let (url, http) = client(opts, stop)?;
        // The first bytes decide (a direct MP4 is not downloaded).
        let r = match probe(&http, &url).await? {
            Probe::Hls(r) => r,
            Probe::Mp4 => {
                let size = http
                    .request(reqwest::Method::HEAD, &url, None)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .and_then(|r| r.headers().get(reqwest::header::CONTENT_LENGTH)?.to_str().ok()?.parse::<u64>().ok())
                    .map(|n| format!(" ({:.1} MB)", n as f64 / 1e6))
                    .unwrap_or_default();
                return Ok(format!("a direct MP4 file{size}: one format, recorded as it is\n"));
            }
        };
        let text = String::from_utf8_lossy(&r.body);
        match parse(&text, &r.url).map_err(|e| RecordError::Failure(format!("{}: {e}", r.url)))? {
            Playlist::Master(m) => Ok(master_table(&m, &opts.quality)),
            Playlist::Media(pl) => Ok(media_table(&pl, &r.url)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::playlist::Quality;

    #[test]
    fn master_rows() {
        let base = url::Url::parse("http://h/m.m3u8").unwrap();
        let text = "#EXTM3U\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,URI=\"a/en.m3u8\"\n\
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Deutsch\",LANGUAGE=\"de\",URI=\"s/de.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",FRAME-RATE=25,AUDIO=\"aac\"\nv0.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1920x1080,AUDIO=\"aac\",SUBTITLES=\"subs\"\nv1.m3u8\n";
        let Playlist::Master(m) = parse(text, &base).unwrap() else { panic!("master") };
        let t = master_table(&m, &Quality::Best);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].starts_with("ID") && lines[1].contains("RESOLUTION"), "{t}");
        assert!(lines[2].starts_with("0 ") && lines[2].contains("640x360") && lines[2].contains("800k"), "{t}");
        assert!(lines[2].contains("avc1.4d401e,mp4a.40.2") && lines[2].contains(" 25 "), "{t}");
        assert!(lines[3].starts_with("1*") && lines[3].contains("1920x1080"), "{t}");
        assert!(t.contains("audio ") && t.contains("English") && t.contains("yes"), "{t}");
        assert!(t.contains("subtitles") && t.contains("Deutsch"), "{t}");
    }
}
