//! HLS playlist parsing (RFC 8216), variant/rendition selection and DRM detection.
//!
//! Self-contained: only `std`, `url` and `thiserror`. The entry point is [`parse`], which
//! turns the text of a playlist plus the URL it was fetched from into a [`Playlist`]: either
//! a [`MasterPlaylist`] (RFC 8216 §4.3.4) or a [`MediaPlaylist`] (§4.3.2, §4.3.3). Every URI is
//! resolved against that base URL (§4.1: relative URIs are relative to the playlist's URI).
//!
//! # What is modelled
//! - Basic tags (§4.3.1): `#EXTM3U` (required, see below), `EXT-X-VERSION`.
//! - Media segment tags (§4.3.2): `EXTINF` (duration; the title after the first comma is
//!   ignored even when it contains more commas), `EXT-X-BYTERANGE` (§4.3.2.2, `n[@o]`; a
//!   missing `o` continues right after the previous sub-range *of the same URI*, tracked per
//!   resolved URI), `EXT-X-DISCONTINUITY` (§4.3.2.3), `EXT-X-KEY` (§4.3.2.4: the key applies
//!   to every following segment and to a following `EXT-X-MAP` until the next `EXT-X-KEY`;
//!   `METHOD=NONE` clears it), `EXT-X-MAP` (§4.3.2.5: applies to every following segment
//!   until the next `EXT-X-MAP`; it keeps its own byte range and the key in force when the
//!   tag appears), `EXT-X-PROGRAM-DATE-TIME` (§4.3.2.6: carried forward by adding segment
//!   durations), `EXT-X-GAP` (RFC 8216bis §4.4.4.7).
//! - Media playlist tags (§4.3.3): `EXT-X-TARGETDURATION`, `EXT-X-MEDIA-SEQUENCE` (§4.3.3.2:
//!   segment *i* has sequence number `media_sequence + i`), `EXT-X-DISCONTINUITY-SEQUENCE`
//!   (§4.3.3.3), `EXT-X-ENDLIST`, `EXT-X-PLAYLIST-TYPE`, `EXT-X-I-FRAMES-ONLY`.
//! - Master playlist tags (§4.3.4): `EXT-X-MEDIA` (alternative renditions),
//!   `EXT-X-STREAM-INF`, `EXT-X-I-FRAME-STREAM-INF` (kept apart in
//!   [`MasterPlaylist::i_frame_variants`]; never chosen for recording), `EXT-X-SESSION-KEY`.
//! - `EXT-X-INDEPENDENT-SEGMENTS` (§4.3.5.1) in either kind.
//! - Low-latency HLS (RFC 8216bis): `EXT-X-PART`, `EXT-X-PRELOAD-HINT`,
//!   `EXT-X-PART-INF`, `EXT-X-SERVER-CONTROL`, `EXT-X-RENDITION-REPORT` are ignored (only full
//!   segments are recorded). `EXT-X-SKIP:SKIPPED-SEGMENTS=n` (delta update) is noted in
//!   [`MediaPlaylist::skipped_segments`] and the sequence numbers of the segments after it
//!   account for the `n` skipped ones.
//! - Encryption: [`iv_for`] implements §5.2 (explicit IV, else the media sequence number as
//!   a 128-bit big-endian integer). [`drm_signal`] / [`unsupported_encryption`] /
//!   [`check_encryption`] classify the keys.
//!
//! # Leniency (like real players) and the only errors
//! Accepted: a UTF-8 BOM; CRLF, LF or lone CR line ends; blank lines and surrounding
//! whitespace; blank lines and `#` comments *before* `#EXTM3U`; unknown tags and comments
//! (ignored, §4.1); attribute lists with spaces after commas, lower-case attribute names,
//! quoted strings containing commas, unterminated quotes (run to the end of the line),
//! `0x`/`0X` hex, decimal/float/resolution values; malformed values of optional attributes
//! (ignored, with a warning in `warnings`); tags in the "wrong" kind of playlist (e.g. a
//! stray `EXT-X-TARGETDURATION` in a master playlist is ignored with a warning).
//!
//! Decisions where the RFC says "MUST" and players differ:
//! - **URI without `EXTINF`** (violates §4.3.2.1): accepted as a segment of duration 0 with a
//!   warning, so sequence numbers (and with them AES IVs) stay right. In a playlist that is
//!   otherwise a master playlist such a line is ignored with a warning instead.
//! - **EXTINF value** that is not a number (or negative, e.g. IPTV `-1`): duration 0, warning.
//! - **Missing `EXT-X-TARGETDURATION`**: the largest segment duration rounded up (warning).
//! - **`EXT-X-BYTERANGE` without offset** and no earlier sub-range of that URI: offset 0
//!   (warning). `EXT-X-MAP` `BYTERANGE` without offset: offset 0.
//! - **Invalid `IV`** on an `AES-128` key: an error (decrypting with a guessed IV would
//!   produce garbage); on other methods the IV is ignored with a warning.
//! - **Segment or `EXT-X-MAP` URI that cannot be resolved**: an error (the segment could not
//!   be fetched); a variant/rendition URI that cannot be resolved drops that entry (warning);
//!   a key URI that cannot be resolved leaves [`Key::uri`] empty (warning).
//! - Multiple `EXT-X-KEY` tags in a row (one per KEYFORMAT, §4.3.2.4) apply to the same
//!   segments; [`Segment::key`] is the `identity` one if present (the one a client can
//!   use), else the first. Every key line is kept in [`MediaPlaylist::keys`] for DRM checks.
//!
//! Errors ([`PlaylistError`]) are returned only for: no `#EXTM3U` header
//! ("not an HLS playlist (no #EXTM3U)"); a playlist containing both variant streams
//! (`EXT-X-STREAM-INF`/`EXT-X-I-FRAME-STREAM-INF`/`EXT-X-MEDIA`) and segments (`EXTINF`)
//! (§4.3: such a playlist MUST fail to parse); more than [`MAX_PLAYLIST_BYTES`] of text or
//! more than [`MAX_SEGMENTS`] segments; the unresolvable-URI / invalid-IV cases above.
//!
//! # Encryption classes
//! - `METHOD=NONE` or no key: clear.
//! - `METHOD=AES-128` with `KEYFORMAT` `identity` (the default): full-segment AES-128-CBC the
//!   recorder can decrypt (§4.3.2.4, §5.2). Not DRM.
//! - DRM ([`drm_signal`], error id `drm_protected`): any `EXT-X-KEY` or `EXT-X-SESSION-KEY`
//!   with `METHOD=SAMPLE-AES` / `SAMPLE-AES-CTR`, or a `KEYFORMAT` other than `identity`
//!   (FairPlay `com.apple.streamingkeydelivery` / `skd://`, PlayReady
//!   `com.microsoft.playready`, Widevine `urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed`, any
//!   other), or an `skd://` key URI.
//! - Unsupported encryption ([`unsupported_encryption`], error id `unsupported_encryption`):
//!   any other `METHOD` with an `identity` key format, e.g. `AES-256` / `AES-256-CTR` (from the
//!   RFC 8216bis drafts; present in the corpus). The playlist still parses; the caller
//!   decides to stop with a clean error rather than write undecryptable data.
//!
//! Nothing in this module panics on any input (see the fuzz target `fuzz/fuzz_targets/m3u8.rs`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use url::Url;

/// Largest playlist text accepted by [`parse`] (20 MB).
pub const MAX_PLAYLIST_BYTES: usize = 20 * 1024 * 1024;
/// Largest number of segments accepted in one media playlist.
pub const MAX_SEGMENTS: usize = 1_000_000;
/// At most this many warnings are kept per playlist (then one "suppressed" note).
pub const MAX_WARNINGS: usize = 100;

/// The `KEYFORMAT` of plain AES keys (§4.3.2.4: the default when the attribute is absent).
pub const KEYFORMAT_IDENTITY: &str = "identity";
/// Apple FairPlay Streaming key format.
pub const KEYFORMAT_FAIRPLAY: &str = "com.apple.streamingkeydelivery";
/// Microsoft PlayReady key format.
pub const KEYFORMAT_PLAYREADY: &str = "com.microsoft.playready";
/// Google Widevine key format (its DASH system id as a URN).
pub const KEYFORMAT_WIDEVINE: &str = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";

/// Why a playlist could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaylistError {
    /// The text does not start with `#EXTM3U` (§4.3.1.1).
    #[error("not an HLS playlist (no #EXTM3U)")]
    NotHls,
    /// More than [`MAX_PLAYLIST_BYTES`] of text.
    #[error("HLS playlist too large: {size} bytes (limit {limit} bytes)")]
    TooLarge { size: usize, limit: usize },
    /// More than [`MAX_SEGMENTS`] segments.
    #[error("HLS playlist has too many segments (more than {limit})")]
    TooManySegments { limit: usize },
    /// Both master-playlist tags and media segments (§4.3: MUST fail to parse).
    #[error(
        "invalid HLS playlist: it is both a master playlist (line {master_line}) \
         and a media playlist (line {media_line})"
    )]
    MasterAndMedia { master_line: usize, media_line: usize },
    /// A value the recording cannot do without is unusable (segment URI, AES-128 IV, ...).
    #[error("invalid HLS playlist at line {line}: {reason}")]
    Invalid { line: usize, reason: InvalidValue },
    /// DRM (see [`drm_signal`]); produced by [`check_encryption`], never by [`parse`].
    #[error("DRM-protected stream: {0}")]
    DrmProtected(String),
    /// An encryption method this recorder cannot decrypt (see [`unsupported_encryption`]);
    /// produced by [`check_encryption`], never by [`parse`].
    #[error("unsupported HLS encryption method {0} (only AES-128 is supported)")]
    UnsupportedEncryption(String),
}

impl PlaylistError {
    /// A stable machine-readable id: `not_hls`, `playlist_too_large`, `invalid_playlist`,
    /// `drm_protected`, `unsupported_encryption`.
    pub fn id(&self) -> &'static str {
        match self {
            PlaylistError::NotHls => "not_hls",
            PlaylistError::TooLarge { .. } | PlaylistError::TooManySegments { .. } => "playlist_too_large",
            PlaylistError::MasterAndMedia { .. } | PlaylistError::Invalid { .. } => "invalid_playlist",
            PlaylistError::DrmProtected(_) => "drm_protected",
            PlaylistError::UnsupportedEncryption(_) => "unsupported_encryption",
        }
    }
}

/// What is wrong with a value of a playlist ([`PlaylistError::Invalid`], or a warning
/// when the value can be done without).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// A URI that does not resolve against the playlist's URL (shortened to 80 characters).
    #[error("cannot resolve URI {uri:?}: {source}")]
    Uri { uri: String, source: url::ParseError },
    /// An `EXT-X-KEY` `IV` that is not 128 bits of hex (shortened to 80 characters).
    #[error("EXT-X-KEY IV {0:?} is not a 128-bit hex number")]
    Iv(String),
}

/// A parsed playlist: master (multivariant) or media.
#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    Master(MasterPlaylist),
    Media(MediaPlaylist),
}

impl Playlist {
    /// The warnings collected while parsing (ignored malformed values and the like).
    pub fn warnings(&self) -> &[String] {
        match self {
            Playlist::Master(m) => &m.warnings,
            Playlist::Media(m) => &m.warnings,
        }
    }
}

/// A master (multivariant) playlist (§4.3.4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MasterPlaylist {
    /// `EXT-X-VERSION`.
    pub version: Option<u64>,
    /// `EXT-X-STREAM-INF` variants, in playlist order.
    pub variants: Vec<Variant>,
    /// `EXT-X-I-FRAME-STREAM-INF` variants (trick play; never chosen for recording).
    pub i_frame_variants: Vec<Variant>,
    /// `EXT-X-MEDIA` alternative renditions, in playlist order.
    pub renditions: Vec<Rendition>,
    /// `EXT-X-SESSION-KEY` keys (§4.3.4.5), followed by any stray `EXT-X-KEY` lines (kept so
    /// DRM detection sees every key line).
    pub session_keys: Vec<Key>,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// Non-fatal problems found while parsing.
    pub warnings: Vec<String>,
}

/// Picture size from a `RESOLUTION` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

/// One `EXT-X-STREAM-INF` (or `EXT-X-I-FRAME-STREAM-INF`) entry (§4.3.4.2, §4.3.4.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The variant's media playlist, resolved against the master's URL.
    pub uri: Url,
    /// `BANDWIDTH` in bits/s (0 when missing or malformed; a warning is recorded).
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH`.
    pub average_bandwidth: Option<u64>,
    /// `RESOLUTION`.
    pub resolution: Option<Resolution>,
    /// `CODECS` (the raw comma-separated list).
    pub codecs: Option<String>,
    /// `FRAME-RATE`.
    pub frame_rate: Option<f64>,
    /// `AUDIO` group id.
    pub audio: Option<String>,
    /// `VIDEO` group id.
    pub video: Option<String>,
    /// `SUBTITLES` group id.
    pub subtitles: Option<String>,
    /// `CLOSED-CAPTIONS` group id (`NONE` is kept as the string `NONE`).
    pub closed_captions: Option<String>,
    /// True for `EXT-X-I-FRAME-STREAM-INF` entries.
    pub i_frame: bool,
}

impl Variant {
    /// True when the variant declares no picture: no `RESOLUTION` and every codec in
    /// `CODECS` is an audio (or text) codec.
    pub fn is_audio_only(&self) -> bool {
        if self.resolution.is_some() {
            return false;
        }
        let Some(codecs) = &self.codecs else {
            return false;
        };
        let mut any = false;
        for c in codecs.split(',') {
            let c = c.trim().to_ascii_lowercase();
            if c.is_empty() {
                continue;
            }
            any = true;
            const NON_VIDEO: [&str; 14] = [
                "mp4a", "ac-3", "ec-3", "ac-4", "opus", "flac", "mp3", "alac", "dtsc", "dtse", "dtsh", "dtsl", "wvtt",
                "stpp",
            ];
            if !NON_VIDEO.iter().any(|p| c.starts_with(p)) {
                return false;
            }
        }
        any
    }

    fn height(&self) -> u32 {
        self.resolution.map(|r| r.height).unwrap_or(0)
    }

    fn pixels(&self) -> u64 {
        self.resolution.map(|r| r.width as u64 * r.height as u64).unwrap_or(0)
    }
}

/// `EXT-X-MEDIA` `TYPE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaType {
    Audio,
    Video,
    Subtitles,
    ClosedCaptions,
    /// Anything else, as written.
    Other(String),
}

/// One `EXT-X-MEDIA` alternative rendition (§4.3.4.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    pub media_type: MediaType,
    pub group_id: String,
    pub language: Option<String>,
    pub assoc_language: Option<String>,
    pub name: String,
    pub default: bool,
    pub autoselect: bool,
    pub forced: bool,
    /// `CHANNELS` (e.g. "2", "6/JOC").
    pub channels: Option<String>,
    /// `INSTREAM-ID` (closed captions).
    pub instream_id: Option<String>,
    /// The rendition's media playlist; `None` means the rendition is muxed into the
    /// variant's own segments (§4.3.4.2.1).
    pub uri: Option<Url>,
}

/// `EXT-X-KEY` / `EXT-X-SESSION-KEY` `METHOD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyMethod {
    None,
    /// Full-segment AES-128-CBC with PKCS7 padding (§4.3.2.4, §5.2).
    Aes128,
    /// Sample-level encryption (DRM family).
    SampleAes,
    /// Sample-level AES-CTR (`cenc`) (DRM family).
    SampleAesCtr,
    /// Anything else as written (e.g. `AES-256`, `AES-256-CTR`): unsupported encryption.
    Other(String),
}

impl KeyMethod {
    fn parse(s: &str) -> KeyMethod {
        match s.trim() {
            "NONE" => KeyMethod::None,
            "AES-128" => KeyMethod::Aes128,
            "SAMPLE-AES" => KeyMethod::SampleAes,
            "SAMPLE-AES-CTR" => KeyMethod::SampleAesCtr,
            other => match other.to_ascii_uppercase().as_str() {
                "NONE" => KeyMethod::None,
                "AES-128" => KeyMethod::Aes128,
                "SAMPLE-AES" => KeyMethod::SampleAes,
                "SAMPLE-AES-CTR" => KeyMethod::SampleAesCtr,
                _ => KeyMethod::Other(other.to_string()),
            },
        }
    }

    /// The method as written in a playlist.
    pub fn as_str(&self) -> &str {
        match self {
            KeyMethod::None => "NONE",
            KeyMethod::Aes128 => "AES-128",
            KeyMethod::SampleAes => "SAMPLE-AES",
            KeyMethod::SampleAesCtr => "SAMPLE-AES-CTR",
            KeyMethod::Other(s) => s,
        }
    }
}

impl fmt::Display for KeyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `EXT-X-KEY` or `EXT-X-SESSION-KEY` (§4.3.2.4, §4.3.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub method: KeyMethod,
    /// The key URI, resolved (absent for `METHOD=NONE`, or when it could not be resolved).
    pub uri: Option<Url>,
    /// The `IV` attribute (`0x` + up to 32 hex digits, a big-endian 128-bit integer).
    pub iv: Option<[u8; 16]>,
    /// `KEYFORMAT` (`"identity"` when absent).
    pub keyformat: String,
    /// `KEYFORMATVERSIONS`.
    pub keyformat_versions: Option<String>,
}

impl Key {
    /// True for the `identity` key format (plain keys a client fetches itself).
    pub fn is_identity(&self) -> bool {
        self.keyformat.trim().eq_ignore_ascii_case(KEYFORMAT_IDENTITY)
    }
}

/// A byte range of a resource: `length` bytes starting at `offset` (§4.3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    pub length: u64,
    pub offset: u64,
}

impl ByteRange {
    /// The HTTP `Range` header value for this range (`bytes=first-last`), or `None` for an
    /// empty range.
    pub fn http_range(&self) -> Option<String> {
        if self.length == 0 {
            return None;
        }
        let last = self.offset.saturating_add(self.length - 1);
        Some(format!("bytes={}-{}", self.offset, last))
    }
}

/// An `EXT-X-MAP` media initialization section (§4.3.2.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Map {
    pub uri: Url,
    /// `BYTERANGE` (offset 0 when written without one).
    pub byte_range: Option<ByteRange>,
    /// The key in force when the `EXT-X-MAP` tag appeared (an encrypted MAP needs an
    /// explicit IV, §4.3.2.5).
    pub key: Option<Arc<Key>>,
}

/// `EXT-X-PLAYLIST-TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaylistType {
    Vod,
    Event,
}

/// One media segment with everything in force for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Resolved against the playlist URL.
    pub uri: Url,
    /// `EXTINF` duration in seconds (0 when missing or malformed).
    pub duration: f64,
    /// Media sequence number: `EXT-X-MEDIA-SEQUENCE` + skipped segments + index (§4.3.3.2).
    pub sequence: u64,
    /// An `EXT-X-DISCONTINUITY` precedes this segment.
    pub discontinuity: bool,
    /// Discontinuity sequence number of this segment (§4.3.3.3).
    pub discontinuity_sequence: u64,
    /// `EXT-X-BYTERANGE` with its offset resolved.
    pub byte_range: Option<ByteRange>,
    /// The key in force (`None` = clear; `METHOD=NONE` clears).
    pub key: Option<Arc<Key>>,
    /// The initialization section in force.
    pub map: Option<Arc<Map>>,
    /// Wall-clock time of the first sample in Unix milliseconds, from
    /// `EXT-X-PROGRAM-DATE-TIME` or carried forward from an earlier one by adding durations.
    pub program_date_time_ms: Option<i64>,
    /// `EXT-X-GAP`: the segment is missing; do not fetch it.
    pub gap: bool,
}

/// A media playlist (§4.3.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// `EXT-X-VERSION`.
    pub version: Option<u64>,
    /// `EXT-X-TARGETDURATION` in seconds (if missing: the longest segment, rounded up).
    pub target_duration: f64,
    /// `EXT-X-MEDIA-SEQUENCE` (0 when absent).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `EXT-X-PLAYLIST-TYPE`.
    pub playlist_type: Option<PlaylistType>,
    /// `EXT-X-ENDLIST` present: no more segments will be added.
    pub end_list: bool,
    /// `EXT-X-I-FRAMES-ONLY`.
    pub i_frames_only: bool,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// Sum of `EXT-X-SKIP:SKIPPED-SEGMENTS` (a delta update; 0 normally).
    pub skipped_segments: u64,
    /// The segments, in order.
    pub segments: Vec<Segment>,
    /// Every `EXT-X-KEY` line in playlist order (including `METHOD=NONE`), followed by any
    /// stray `EXT-X-SESSION-KEY` (kept so DRM detection sees every key line).
    pub keys: Vec<Arc<Key>>,
    /// Non-fatal problems found while parsing.
    pub warnings: Vec<String>,
}

impl MediaPlaylist {
    /// Sum of the segment durations in seconds.
    pub fn total_duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// True when the playlist may still grow (no `EXT-X-ENDLIST`, not `VOD`).
    pub fn is_live(&self) -> bool {
        !self.end_list && self.playlist_type != Some(PlaylistType::Vod)
    }
}

/// The AES-128 IV for a segment (§5.2): the key's explicit `IV`, else the segment's media
/// sequence number as a big-endian 128-bit integer.
pub fn iv_for(segment: &Segment) -> [u8; 16] {
    match segment.key.as_ref().and_then(|k| k.iv) {
        Some(iv) => iv,
        None => (segment.sequence as u128).to_be_bytes(),
    }
}

// ---------------------------------------------------------------------------------------
// Quality selection
// ---------------------------------------------------------------------------------------

/// Which variant to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Highest `BANDWIDTH` (ties: larger picture).
    Best,
    /// Lowest `BANDWIDTH` (ties: smaller picture).
    Worst,
    /// `"720p"`: the tallest variant not above this height, else the shortest one above it
    /// (ties at a height: highest bandwidth). Without any `RESOLUTION`: like `Best`.
    Height(u32),
    /// `"1500000"` / `"1500k"` / `"1.5M"`: the lowest-bandwidth variant with at least this
    /// `BANDWIDTH`, else (none is that high) the highest-bandwidth one.
    MinBandwidth(u64),
}

impl Quality {
    /// Parses `best`, `worst` (any case), `720p` (a height; a frame-rate suffix like
    /// `720p60` is accepted and ignored), or a bandwidth in bits/s (`1500000`, `1500k`, `1.5M`).
    pub fn parse(s: &str) -> Result<Quality, QualityError> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "best" | "highest" | "max" => return Ok(Quality::Best),
            "worst" | "lowest" | "min" => return Ok(Quality::Worst),
            _ => {}
        }
        let bad = || QualityError(t.to_string());
        if let Some(p) = lower.find('p') {
            let (h, rest) = (&lower[..p], &lower[p + 1..]);
            if !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit()) && rest.bytes().all(|b| b.is_ascii_digit()) {
                return h.parse::<u32>().map(Quality::Height).map_err(|_| bad());
            }
            return Err(bad());
        }
        let (num, mult) = if let Some(n) = lower.strip_suffix('k') {
            (n, 1_000f64)
        } else if let Some(n) = lower.strip_suffix('m') {
            (n, 1_000_000f64)
        } else {
            (lower.as_str(), 1f64)
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        if mult == 1.0 {
            if let Ok(v) = num.parse::<u64>() {
                return Ok(Quality::MinBandwidth(v));
            }
        }
        match num.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 && v * mult < 1.8e19 => {
                Ok(Quality::MinBandwidth((v * mult).round() as u64))
            }
            _ => Err(bad()),
        }
    }
}

/// A `--quality` that is none of the forms [`Quality::parse`] accepts (the text given, trimmed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid quality {0:?}: expected best, worst, a height like 720p, or a bandwidth in bits/s like 1500000")]
pub struct QualityError(pub String);

impl FromStr for Quality {
    type Err = QualityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quality::parse(s)
    }
}

/// Chooses the variant to record. Only `EXT-X-STREAM-INF` variants are candidates (never
/// I-frame variants); audio-only variants are skipped when any variant has video.
pub fn select_variant<'a>(master: &'a MasterPlaylist, quality: &Quality) -> Option<&'a Variant> {
    let has_video = master.variants.iter().any(|v| !v.is_audio_only());
    let cands: Vec<&Variant> =
        master.variants.iter().filter(|v| !v.i_frame && (!has_video || !v.is_audio_only())).collect();
    let best = |c: &[&'a Variant]| -> Option<&'a Variant> {
        c.iter().copied().max_by_key(|v| (v.bandwidth, v.pixels(), v.average_bandwidth))
    };
    match *quality {
        Quality::Best => best(&cands),
        Quality::Worst => cands.iter().copied().min_by_key(|v| (v.bandwidth, v.pixels(), v.average_bandwidth)),
        Quality::Height(h) => {
            let sized: Vec<&Variant> = cands.iter().copied().filter(|v| v.resolution.is_some()).collect();
            if sized.is_empty() {
                return best(&cands);
            }
            let below =
                sized.iter().copied().filter(|v| v.height() <= h).max_by_key(|v| (v.height(), v.bandwidth, v.pixels()));
            below.or_else(|| {
                sized
                    .iter()
                    .copied()
                    .filter(|v| v.height() > h)
                    .min_by_key(|v| (v.height(), std::cmp::Reverse((v.bandwidth, v.pixels()))))
            })
        }
        Quality::MinBandwidth(b) => cands
            .iter()
            .copied()
            .filter(|v| v.bandwidth >= b)
            .min_by_key(|v| (v.bandwidth, std::cmp::Reverse(v.pixels())))
            .or_else(|| best(&cands)),
    }
}

/// Chooses the audio rendition to record alongside `variant`: among the `TYPE=AUDIO`
/// renditions of the variant's `AUDIO` group, the one whose `LANGUAGE` matches `lang`
/// (exactly, else by primary subtag, e.g. `en` ~ `en-US`, else by `NAME`), else the
/// `DEFAULT=YES` one, else the first. Returns `None` when the variant has no audio group,
/// the group is empty, or the chosen rendition has no `URI` (its audio is muxed into the
/// variant's segments, §4.3.4.2.1).
pub fn select_audio<'a>(master: &'a MasterPlaylist, variant: &Variant, lang: Option<&str>) -> Option<&'a Rendition> {
    let group = variant.audio.as_deref()?;
    let group_rs: Vec<&Rendition> =
        master.renditions.iter().filter(|r| r.media_type == MediaType::Audio && r.group_id == group).collect();
    if group_rs.is_empty() || group_rs.iter().all(|r| r.uri.is_none()) {
        return None;
    }
    let primary = |s: &str| s.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    let by_lang = lang.map(str::trim).filter(|l| !l.is_empty()).and_then(|l| {
        let lang_of = |r: &&Rendition| r.language.as_deref().unwrap_or("").trim().to_string();
        group_rs
            .iter()
            .copied()
            .find(|r| lang_of(r).eq_ignore_ascii_case(l))
            .or_else(|| group_rs.iter().copied().find(|r| !lang_of(r).is_empty() && primary(&lang_of(r)) == primary(l)))
            .or_else(|| group_rs.iter().copied().find(|r| r.name.trim().eq_ignore_ascii_case(l)))
    });
    let chosen =
        by_lang.or_else(|| group_rs.iter().copied().find(|r| r.default)).or_else(|| group_rs.first().copied())?;
    chosen.uri.as_ref().map(|_| chosen)
}

// ---------------------------------------------------------------------------------------
// Encryption classification
// ---------------------------------------------------------------------------------------

fn all_keys(playlist: &Playlist) -> Vec<&Key> {
    match playlist {
        Playlist::Master(m) => m.session_keys.iter().collect(),
        Playlist::Media(m) => m.keys.iter().map(|k| &**k).collect(),
    }
}

fn drm_reason(key: &Key, tag: &str) -> Option<String> {
    let kf = key.keyformat.trim();
    let skd = key.uri.as_ref().is_some_and(|u| u.scheme().eq_ignore_ascii_case("skd"));
    if key.method == KeyMethod::None {
        return None;
    }
    if !key.is_identity() {
        let system = if kf.eq_ignore_ascii_case(KEYFORMAT_FAIRPLAY) {
            "Apple FairPlay".to_string()
        } else if kf.eq_ignore_ascii_case(KEYFORMAT_PLAYREADY) {
            "Microsoft PlayReady".to_string()
        } else if kf.eq_ignore_ascii_case(KEYFORMAT_WIDEVINE) {
            "Google Widevine".to_string()
        } else {
            "a DRM system".to_string()
        };
        return Some(format!("{system} ({tag} METHOD={} KEYFORMAT=\"{kf}\")", key.method));
    }
    if skd {
        return Some(format!("Apple FairPlay ({tag} METHOD={} with an skd:// key URI)", key.method));
    }
    match key.method {
        KeyMethod::SampleAes | KeyMethod::SampleAesCtr => {
            Some(format!("sample-level encryption ({tag} METHOD={}), used by DRM systems", key.method))
        }
        _ => None,
    }
}

/// A human-readable reason when the playlist is DRM-protected (error id `drm_protected`):
/// any `EXT-X-KEY` / `EXT-X-SESSION-KEY` with `METHOD=SAMPLE-AES` or `SAMPLE-AES-CTR`, a
/// `KEYFORMAT` other than `identity`, or an `skd://` key URI. Every key line is scanned;
/// distinct reasons are joined with `"; "`. `AES-128` with the `identity` format is not DRM.
pub fn drm_signal(playlist: &Playlist) -> Option<String> {
    let tag = match playlist {
        Playlist::Master(_) => "EXT-X-SESSION-KEY",
        Playlist::Media(_) => "EXT-X-KEY",
    };
    let mut reasons: Vec<String> = Vec::new();
    for k in all_keys(playlist) {
        if let Some(r) = drm_reason(k, tag) {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
    }
    if reasons.is_empty() {
        None
    } else {
        Some(reasons.join("; "))
    }
}

/// The first encryption method that is neither clear, nor `AES-128`, nor DRM (error id
/// `unsupported_encryption`): e.g. `AES-256` or `AES-256-CTR` with the `identity` format.
pub fn unsupported_encryption(playlist: &Playlist) -> Option<String> {
    all_keys(playlist).into_iter().find_map(|k| match &k.method {
        KeyMethod::Other(m) if k.is_identity() && drm_reason(k, "").is_none() => Some(m.clone()),
        _ => None,
    })
}

/// `Err(DrmProtected)` if [`drm_signal`] fires, else `Err(UnsupportedEncryption)` if
/// [`unsupported_encryption`] does, else `Ok(())` (clear or AES-128 identity).
pub fn check_encryption(playlist: &Playlist) -> Result<(), PlaylistError> {
    if let Some(r) = drm_signal(playlist) {
        return Err(PlaylistError::DrmProtected(r));
    }
    if let Some(m) = unsupported_encryption(playlist) {
        return Err(PlaylistError::UnsupportedEncryption(m));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Attribute lists (§4.2)
// ---------------------------------------------------------------------------------------

/// A parsed attribute list: names upper-cased, values with quotes removed.
struct Attrs(Vec<(String, String)>);

impl Attrs {
    fn parse(s: &str) -> Attrs {
        let mut out = Vec::new();
        let mut rest = s;
        loop {
            rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            if rest.is_empty() {
                break;
            }
            // Name up to '=' (or a ',' for a valueless attribute).
            let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
            let name = rest[..name_end].trim().to_ascii_uppercase();
            rest = &rest[name_end..];
            let value;
            if let Some(r) = rest.strip_prefix('=') {
                let r = r.trim_start();
                if let Some(q) = r.strip_prefix('"') {
                    match q.find('"') {
                        Some(e) => {
                            value = q[..e].to_string();
                            rest = &q[e + 1..];
                            // Skip junk up to the next comma.
                            rest = match rest.find(',') {
                                Some(c) => &rest[c..],
                                None => "",
                            };
                        }
                        None => {
                            value = q.to_string();
                            rest = "";
                        }
                    }
                } else {
                    let e = r.find(',').unwrap_or(r.len());
                    value = r[..e].trim().to_string();
                    rest = &r[e..];
                }
            } else {
                value = String::new();
            }
            if !name.is_empty() {
                out.push((name, value));
            }
        }
        Attrs(out)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn yes(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("YES"))
    }
}

fn parse_u64_lenient(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return Some(v);
    }
    match s.parse::<f64>() {
        Ok(f) if (0.0..1.8e19).contains(&f) => Some(f.round() as u64),
        _ => None,
    }
}

fn parse_f64(s: &str) -> Option<f64> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

fn parse_resolution(s: &str) -> Option<Resolution> {
    let (w, h) = s.trim().split_once(['x', 'X'])?;
    let width = w.trim().parse::<u32>().ok()?;
    let height = h.trim().parse::<u32>().ok()?;
    Some(Resolution { width, height })
}

/// `0x` + 1..=32 hex digits as a big-endian 128-bit integer.
fn parse_iv(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(u128::to_be_bytes)
}

/// `n[@o]`.
fn parse_byte_range(s: &str) -> Option<(u64, Option<u64>)> {
    let s = s.trim();
    match s.split_once('@') {
        Some((n, o)) => Some((n.trim().parse().ok()?, Some(o.trim().parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

/// ISO 8601 / RFC 3339 date-time to Unix milliseconds (§4.3.2.6). Accepts `T`/`t`/space,
/// optional fraction, `Z`, `±hh:mm`, `±hhmm`, `±hh`, or no zone (UTC).
fn parse_date_time_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0i64, |a, d| a * 10 + (d - b'0') as i64))
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = num(11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = num(14, 2)?;
    let (second, mut i) = if b.get(16) == Some(&b':') { (num(17, 2)?, 19) } else { (0, 16) };
    let mut millis = 0i64;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let mut scale = 100;
        let start = i;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            millis += (d - b'0') as i64 * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let rest = &b[i + 3..];
            let om = match rest {
                [] => 0,
                [b':', m1, m2] | [m1, m2] if m1.is_ascii_digit() && m2.is_ascii_digit() => {
                    ((m1 - b'0') * 10 + (m2 - b'0')) as i64
                }
                _ => return None,
            };
            let total = oh * 60 + om;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 24 || minute > 59 || second > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

// ---------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------

struct Warnings {
    list: Vec<String>,
    dropped: usize,
}

impl Warnings {
    fn push(&mut self, line: usize, msg: impl fmt::Display) {
        if self.list.len() < MAX_WARNINGS {
            self.list.push(format!("line {line}: {msg}"));
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list.push(format!("{} more warnings suppressed", self.dropped));
        }
        self.list
    }
}

#[derive(Default)]
struct Pending {
    duration: Option<f64>,
    extinf_line: usize,
    byte_range: Option<(u64, Option<u64>)>,
    discontinuity: bool,
    gap: bool,
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn resolve(base: &Url, uri: &str) -> Result<Url, InvalidValue> {
    base.join(uri.trim()).map_err(|source| InvalidValue::Uri { uri: short(uri), source })
}

fn parse_key(attrs: &Attrs, base: &Url, line: usize, w: &mut Warnings) -> Result<Key, PlaylistError> {
    let method = match attrs.get_nonempty("METHOD") {
        Some(m) => KeyMethod::parse(m),
        None => {
            w.push(line, "key without METHOD, treated as NONE");
            KeyMethod::None
        }
    };
    let uri = match attrs.get_nonempty("URI") {
        Some(u) if method != KeyMethod::None => match resolve(base, u) {
            Ok(u) => Some(u),
            Err(e) => {
                w.push(line, e);
                None
            }
        },
        _ => None,
    };
    let iv = match attrs.get_nonempty("IV") {
        None => None,
        Some(s) => match parse_iv(s) {
            Some(iv) => Some(iv),
            None if method == KeyMethod::Aes128 => {
                return Err(PlaylistError::Invalid { line, reason: InvalidValue::Iv(short(s)) })
            }
            None => {
                w.push(line, format_args!("ignoring invalid IV {:?}", short(s)));
                None
            }
        },
    };
    let keyformat = attrs.get_nonempty("KEYFORMAT").unwrap_or(KEYFORMAT_IDENTITY).to_string();
    let keyformat_versions = attrs.get_nonempty("KEYFORMATVERSIONS").map(str::to_string);
    Ok(Key { method, uri, iv, keyformat, keyformat_versions })
}

fn parse_variant(attrs: &Attrs, uri: Url, i_frame: bool, line: usize, w: &mut Warnings) -> Variant {
    let bandwidth = match attrs.get_nonempty("BANDWIDTH").map(|b| (b, parse_u64_lenient(b))) {
        Some((_, Some(b))) => b,
        Some((b, None)) => {
            w.push(line, format_args!("invalid BANDWIDTH {:?}, using 0", short(b)));
            0
        }
        None => {
            w.push(line, "variant without BANDWIDTH, using 0");
            0
        }
    };
    let resolution = attrs.get_nonempty("RESOLUTION").and_then(|r| {
        let p = parse_resolution(r);
        if p.is_none() {
            w.push(line, format_args!("ignoring invalid RESOLUTION {:?}", short(r)));
        }
        p
    });
    let s = |n: &str| attrs.get_nonempty(n).map(str::to_string);
    Variant {
        uri,
        bandwidth,
        average_bandwidth: attrs.get_nonempty("AVERAGE-BANDWIDTH").and_then(parse_u64_lenient),
        resolution,
        codecs: s("CODECS"),
        frame_rate: attrs.get_nonempty("FRAME-RATE").and_then(parse_f64).filter(|f| *f >= 0.0),
        audio: s("AUDIO"),
        video: s("VIDEO"),
        subtitles: s("SUBTITLES"),
        closed_captions: s("CLOSED-CAPTIONS"),
        i_frame,
    }
}

fn parse_rendition(attrs: &Attrs, base: &Url, line: usize, w: &mut Warnings) -> Option<Rendition> {
    let media_type = match attrs.get_nonempty("TYPE").map(str::to_ascii_uppercase).as_deref() {
        Some("AUDIO") => MediaType::Audio,
        Some("VIDEO") => MediaType::Video,
        Some("SUBTITLES") => MediaType::Subtitles,
        Some("CLOSED-CAPTIONS") => MediaType::ClosedCaptions,
        Some(other) => MediaType::Other(other.to_string()),
        None => {
            w.push(line, "EXT-X-MEDIA without TYPE ignored");
            return None;
        }
    };
    let uri = match attrs.get_nonempty("URI") {
        Some(u) => match resolve(base, u) {
            Ok(u) => Some(u),
            Err(e) => {
                w.push(line, format_args!("rendition dropped: {e}"));
                return None;
            }
        },
        None => None,
    };
    let s = |n: &str| attrs.get_nonempty(n).map(str::to_string);
    Some(Rendition {
        media_type,
        group_id: attrs.get("GROUP-ID").unwrap_or("").to_string(),
        language: s("LANGUAGE"),
        assoc_language: s("ASSOC-LANGUAGE"),
        name: attrs.get("NAME").unwrap_or("").to_string(),
        default: attrs.yes("DEFAULT"),
        autoselect: attrs.yes("AUTOSELECT"),
        forced: attrs.yes("FORCED"),
        channels: s("CHANNELS"),
        instream_id: s("INSTREAM-ID"),
        uri,
    })
}

/// Parses a playlist's text. `base` is the URL the playlist was fetched from; every URI in
/// it is resolved against `base`. See the module documentation for the accepted dialect and
/// the (few) errors.
pub fn parse(text: &str, base: &Url) -> Result<Playlist, PlaylistError> {
    if text.len() > MAX_PLAYLIST_BYTES {
        return Err(PlaylistError::TooLarge { size: text.len(), limit: MAX_PLAYLIST_BYTES });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Lines end with LF, CRLF or (old Mac) a lone CR; numbered by LF for messages.
    let mut lines = text
        .split('\n')
        .enumerate()
        .flat_map(|(i, l)| l.strip_suffix('\r').unwrap_or(l).split('\r').map(move |p| (i + 1, p.trim())));
    if !header(lines.by_ref().map(|(_, l)| l)) {
        return Err(PlaylistError::NotHls);
    }
    let mut p = Parser::new(base, text.matches("#EXTINF").count());
    for (n, line) in lines {
        p.line(n, line)?;
    }
    p.finish()
}

/// §4.3.1.1: the first line must be #EXTM3U. Leniency: blank lines and plain comments
/// before it are skipped (seen in real test playlists). Consumes the lines up to it.
fn header<'a>(lines: impl Iterator<Item = &'a str>) -> bool {
    for l in lines {
        if l.is_empty() {
            continue;
        }
        if l.starts_with("#EXTM3U") {
            return true;
        }
        if l.starts_with('#') && !l.starts_with("#EXT") {
            continue;
        }
        return false;
    }
    false
}

/// The state of [`parse`] between lines: one handler per tag.
struct Parser<'b> {
    base: &'b Url,
    w: Warnings,
    version: Option<u64>,
    independent: bool,
    // Master state.
    variants: Vec<Variant>,
    i_frame_variants: Vec<Variant>,
    renditions: Vec<Rendition>,
    session_keys: Vec<Key>,
    pending_stream_inf: Option<(Attrs, usize)>,
    first_master_line: Option<usize>,
    // Media state.
    // Segments hold *relative* sequence numbers (skipped + index, discontinuities so far)
    // until the end, since EXT-X-MEDIA-SEQUENCE may come after the first segment (lenient).
    segs: Vec<Segment>,
    keys: Vec<Arc<Key>>,
    first_extinf_line: Option<usize>,
    bare_uri_lines: Vec<usize>,
    target_duration: Option<f64>,
    media_sequence: Option<u64>,
    discontinuity_sequence: Option<u64>,
    playlist_type: Option<PlaylistType>,
    end_list: bool,
    i_frames_only: bool,
    skipped: u64,
    disc_count: u64,
    pending: Pending,
    cur_key: Option<Arc<Key>>,
    key_group_open: bool,
    cur_map: Option<Arc<Map>>,
    next_pdt_ms: Option<f64>,
    range_end: HashMap<String, u64>,
    media_tag_line: Option<usize>,
}

impl<'b> Parser<'b> {
    /// `extinf_count`: EXTINF tags in the text, to pre-size the segment list (capped so
    /// hostile input cannot force a huge allocation up front).
    fn new(base: &'b Url, extinf_count: usize) -> Parser<'b> {
        Parser {
            base,
            w: Warnings { list: Vec::new(), dropped: 0 },
            version: None,
            independent: false,
            variants: Vec::new(),
            i_frame_variants: Vec::new(),
            renditions: Vec::new(),
            session_keys: Vec::new(),
            pending_stream_inf: None,
            first_master_line: None,
            segs: Vec::with_capacity(extinf_count.min(65_536)),
            keys: Vec::new(),
            first_extinf_line: None,
            bare_uri_lines: Vec::new(),
            target_duration: None,
            media_sequence: None,
            discontinuity_sequence: None,
            playlist_type: None,
            end_list: false,
            i_frames_only: false,
            skipped: 0,
            disc_count: 0,
            pending: Pending::default(),
            cur_key: None,
            key_group_open: false,
            cur_map: None,
            next_pdt_ms: None,
            range_end: HashMap::new(),
            media_tag_line: None,
        }
    }

    /// One line after the header (trimmed), numbered `n`.
    fn line(&mut self, n: usize, line: &str) -> Result<(), PlaylistError> {
        if line.is_empty() {
            return Ok(());
        }
        if !line.starts_with('#') {
            return self.uri_line(n, line);
        }
        if !line.starts_with("#EXT") {
            return Ok(()); // comment
        }
        let (tag, value) = match line.split_once(':') {
            Some((t, v)) => (t.trim_end(), v.trim()),
            None => (line, ""),
        };
        match tag {
            "#EXTINF" => self.extinf(n, value),
            "#EXT-X-VERSION" => self.version = parse_u64_lenient(value),
            "#EXT-X-INDEPENDENT-SEGMENTS" => self.independent = true,
            "#EXT-X-KEY" => {
                self.media_tag_line.get_or_insert(n);
                self.key(n, value)?;
            }
            "#EXT-X-MAP" => {
                self.media_tag_line.get_or_insert(n);
                self.map(n, value)?;
            }
            "#EXT-X-STREAM-INF" | "#EXT-X-I-FRAME-STREAM-INF" | "#EXT-X-MEDIA" => self.master_tag(n, tag, value),
            "#EXT-X-SESSION-KEY" => {
                // Neutral: does not make the playlist a master one (a stray one in a media
                // playlist still counts for DRM detection).
                self.session_keys.push(parse_key(&Attrs::parse(value), self.base, n, &mut self.w)?);
            }
            _ => self.media_tag(n, tag, value),
        }
        Ok(())
    }

    /// A URI line: the variant of a pending EXT-X-STREAM-INF, else a segment.
    fn uri_line(&mut self, n: usize, line: &str) -> Result<(), PlaylistError> {
        if let Some((attrs, sl)) = self.pending_stream_inf.take() {
            match resolve(self.base, line) {
                Ok(u) => self.variants.push(parse_variant(&attrs, u, false, sl, &mut self.w)),
                Err(e) => self.w.push(n, format_args!("variant dropped: {e}")),
            }
            return Ok(());
        }
        let uri = resolve(self.base, line).map_err(|reason| PlaylistError::Invalid { line: n, reason })?;
        let duration = match self.pending.duration.take() {
            Some(d) => d,
            None => {
                self.bare_uri_lines.push(n);
                0.0
            }
        };
        if self.segs.len() >= MAX_SEGMENTS {
            return Err(PlaylistError::TooManySegments { limit: MAX_SEGMENTS });
        }
        let byte_range = self.pending.byte_range.take().map(|r| self.byte_range(n, uri.as_str(), r));
        let pdt = self.next_pdt_ms;
        if let Some(p) = self.next_pdt_ms.as_mut() {
            *p += duration * 1000.0;
        }
        if self.pending.discontinuity {
            self.disc_count = self.disc_count.saturating_add(1);
        }
        let rel_sequence = self.skipped.saturating_add(self.segs.len() as u64);
        self.segs.push(Segment {
            uri,
            duration,
            sequence: rel_sequence,
            discontinuity: self.pending.discontinuity,
            discontinuity_sequence: self.disc_count,
            byte_range,
            key: self.cur_key.clone(),
            map: self.cur_map.clone(),
            program_date_time_ms: pdt.filter(|p| p.is_finite()).map(|p| p.round() as i64),
            gap: self.pending.gap,
        });
        self.pending = Pending::default();
        self.key_group_open = false;
        Ok(())
    }

    /// The byte range of a segment at `uri` from its EXT-X-BYTERANGE (length, offset): an
    /// absent offset continues the previous range of the same URI.
    fn byte_range(&mut self, n: usize, uri: &str, (length, off): (u64, Option<u64>)) -> ByteRange {
        let offset = match off {
            Some(o) => o,
            None => match self.range_end.get(uri) {
                Some(&e) => e,
                None => {
                    self.w.push(n, "EXT-X-BYTERANGE without offset and no earlier range of this URI: offset 0");
                    0
                }
            },
        };
        let end = offset.saturating_add(length);
        match self.range_end.get_mut(uri) {
            Some(e) => *e = end,
            None => {
                self.range_end.insert(uri.to_string(), end);
            }
        }
        ByteRange { length, offset }
    }

    fn extinf(&mut self, n: usize, value: &str) {
        self.first_extinf_line.get_or_insert(n);
        let d = value.split(',').next().unwrap_or("").split_whitespace().next();
        let dur = match d.and_then(parse_f64) {
            Some(d) if d >= 0.0 => d,
            _ => {
                self.w.push(n, format_args!("invalid EXTINF duration {:?}, using 0", short(value)));
                0.0
            }
        };
        if self.pending.duration.is_some() {
            self.w.push(self.pending.extinf_line, "EXTINF without a URI, superseded");
        }
        self.pending.duration = Some(dur);
        self.pending.extinf_line = n;
    }

    /// The media playlist tags with a value or a flag. Everything else (LL-HLS parts/hints,
    /// DATERANGE, SCTE-35 cues, START, BITRATE, ALLOW-CACHE, SESSION-DATA, ...) does not
    /// affect what is recorded.
    fn media_tag(&mut self, n: usize, tag: &str, value: &str) {
        let w = &mut self.w;
        let bad = |w: &mut Warnings, what: &str| w.push(n, format_args!("{what} {:?}", short(value)));
        match tag {
            "#EXT-X-TARGETDURATION" => match parse_f64(value).filter(|f| *f >= 0.0) {
                Some(t) => self.target_duration = Some(t),
                None => bad(w, "invalid EXT-X-TARGETDURATION"),
            },
            "#EXT-X-MEDIA-SEQUENCE" => match parse_u64_lenient(value) {
                Some(s) => self.media_sequence = Some(s),
                None => w.push(n, format_args!("invalid EXT-X-MEDIA-SEQUENCE {:?}, using 0", short(value))),
            },
            "#EXT-X-DISCONTINUITY-SEQUENCE" => match parse_u64_lenient(value) {
                Some(s) => self.discontinuity_sequence = Some(s),
                None => bad(w, "invalid EXT-X-DISCONTINUITY-SEQUENCE"),
            },
            "#EXT-X-PLAYLIST-TYPE" => match value.to_ascii_uppercase().as_str() {
                "VOD" => self.playlist_type = Some(PlaylistType::Vod),
                "EVENT" => self.playlist_type = Some(PlaylistType::Event),
                _ => bad(w, "unknown EXT-X-PLAYLIST-TYPE"),
            },
            "#EXT-X-ENDLIST" => self.end_list = true,
            "#EXT-X-I-FRAMES-ONLY" => self.i_frames_only = true,
            "#EXT-X-DISCONTINUITY" => self.pending.discontinuity = true,
            "#EXT-X-GAP" => self.pending.gap = true,
            "#EXT-X-BYTERANGE" => match parse_byte_range(value) {
                Some(r) => self.pending.byte_range = Some(r),
                None => bad(w, "ignoring invalid EXT-X-BYTERANGE"),
            },
            "#EXT-X-PROGRAM-DATE-TIME" => match parse_date_time_ms(value) {
                Some(ms) => self.next_pdt_ms = Some(ms as f64),
                None => bad(w, "ignoring invalid EXT-X-PROGRAM-DATE-TIME"),
            },
            "#EXT-X-SKIP" => match Attrs::parse(value).get_nonempty("SKIPPED-SEGMENTS").and_then(parse_u64_lenient) {
                Some(k) => self.skipped = self.skipped.saturating_add(k),
                None => w.push(n, "EXT-X-SKIP without a valid SKIPPED-SEGMENTS"),
            },
            _ => return,
        }
        self.media_tag_line.get_or_insert(n);
    }

    fn key(&mut self, n: usize, value: &str) -> Result<(), PlaylistError> {
        let key = Arc::new(parse_key(&Attrs::parse(value), self.base, n, &mut self.w)?);
        self.keys.push(key.clone());
        let new = if key.method == KeyMethod::None { None } else { Some(key) };
        if !self.key_group_open {
            self.cur_key = new;
            self.key_group_open = true;
        } else if let Some(k) = new {
            // Several KEY tags for the same segments (one per KEYFORMAT): prefer the
            // identity one.
            if self.cur_key.as_ref().is_none_or(|c| !c.is_identity() && k.is_identity()) {
                self.cur_key = Some(k);
            }
        }
        Ok(())
    }

    fn map(&mut self, n: usize, value: &str) -> Result<(), PlaylistError> {
        let a = Attrs::parse(value);
        let Some(u) = a.get_nonempty("URI") else {
            self.w.push(n, "EXT-X-MAP without URI ignored");
            return Ok(());
        };
        let uri = resolve(self.base, u).map_err(|reason| PlaylistError::Invalid { line: n, reason })?;
        let w = &mut self.w;
        let byte_range = a.get_nonempty("BYTERANGE").and_then(|r| match parse_byte_range(r) {
            Some((length, off)) => Some(ByteRange { length, offset: off.unwrap_or(0) }),
            None => {
                w.push(n, format_args!("ignoring invalid EXT-X-MAP BYTERANGE {:?}", short(r)));
                None
            }
        });
        self.cur_map = Some(Arc::new(Map { uri, byte_range, key: self.cur_key.clone() }));
        Ok(())
    }

    /// EXT-X-STREAM-INF, EXT-X-I-FRAME-STREAM-INF, EXT-X-MEDIA: the playlist is a master one.
    fn master_tag(&mut self, n: usize, tag: &str, value: &str) {
        self.first_master_line.get_or_insert(n);
        match tag {
            "#EXT-X-STREAM-INF" => {
                if let Some((_, sl)) = self.pending_stream_inf.replace((Attrs::parse(value), n)) {
                    self.w.push(sl, "EXT-X-STREAM-INF without a URI ignored");
                }
            }
            "#EXT-X-I-FRAME-STREAM-INF" => {
                let a = Attrs::parse(value);
                match a.get_nonempty("URI").map(|u| resolve(self.base, u)) {
                    Some(Ok(u)) => self.i_frame_variants.push(parse_variant(&a, u, true, n, &mut self.w)),
                    Some(Err(e)) => self.w.push(n, format_args!("I-frame variant dropped: {e}")),
                    None => self.w.push(n, "EXT-X-I-FRAME-STREAM-INF without URI ignored"),
                }
            }
            _ => {
                if let Some(r) = parse_rendition(&Attrs::parse(value), self.base, n, &mut self.w) {
                    self.renditions.push(r);
                }
            }
        }
    }

    /// After the last line: the master or the media playlist.
    fn finish(mut self) -> Result<Playlist, PlaylistError> {
        if let Some((_, sl)) = self.pending_stream_inf.take() {
            self.w.push(sl, "EXT-X-STREAM-INF without a URI ignored");
        }
        if let (Some(master_line), Some(media_line)) = (self.first_master_line, self.first_extinf_line) {
            return Err(PlaylistError::MasterAndMedia { master_line, media_line });
        }
        if self.first_master_line.is_some() {
            Ok(self.finish_master())
        } else {
            Ok(self.finish_media())
        }
    }

    fn finish_master(mut self) -> Playlist {
        for &l in &self.bare_uri_lines {
            self.w.push(l, "URI line without EXT-X-STREAM-INF ignored");
        }
        if let Some(l) = self.media_tag_line {
            self.w.push(l, "media playlist tags in a master playlist ignored");
        }
        // Stray EXT-X-KEY lines still count for DRM detection.
        self.session_keys.extend(self.keys.iter().map(|k| (**k).clone()));
        Playlist::Master(MasterPlaylist {
            version: self.version,
            variants: self.variants,
            i_frame_variants: self.i_frame_variants,
            renditions: self.renditions,
            session_keys: self.session_keys,
            independent_segments: self.independent,
            warnings: self.w.finish(),
        })
    }

    fn finish_media(mut self) -> Playlist {
        for l in self.bare_uri_lines.iter().take(10) {
            self.w.push(*l, "segment URI without EXTINF: duration 0");
        }
        if self.pending.duration.is_some() {
            self.w.push(self.pending.extinf_line, "EXTINF without a URI at the end ignored");
        }
        if !self.session_keys.is_empty() {
            self.w.push(1, "EXT-X-SESSION-KEY in a media playlist: kept only for DRM detection");
            self.keys.extend(self.session_keys.into_iter().map(Arc::new));
        }
        let media_sequence = self.media_sequence.unwrap_or(0);
        let disc_base = self.discontinuity_sequence.unwrap_or(0);
        let mut segments = self.segs;
        for s in &mut segments {
            s.sequence = media_sequence.saturating_add(s.sequence);
            s.discontinuity_sequence = disc_base.saturating_add(s.discontinuity_sequence);
        }
        let target_duration = match self.target_duration {
            Some(t) => t,
            None => {
                let max = segments.iter().map(|s| s.duration).fold(0.0f64, f64::max);
                if !segments.is_empty() {
                    self.w.push(1, "no EXT-X-TARGETDURATION: using the longest segment");
                }
                max.ceil()
            }
        };
        Playlist::Media(MediaPlaylist {
            version: self.version,
            target_duration,
            media_sequence,
            discontinuity_sequence: disc_base,
            playlist_type: self.playlist_type,
            end_list: self.end_list,
            i_frames_only: self.i_frames_only,
            independent_segments: self.independent,
            skipped_segments: self.skipped,
            segments,
            keys: self.keys,
            warnings: self.w.finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://example.com/live/index.m3u8").unwrap()
    }

    fn media(text: &str) -> MediaPlaylist {
        match parse(text, &base()) {
            Ok(Playlist::Media(m)) => m,
            other => panic!("expected a media playlist, got {other:?}"),
        }
    }

    fn master(text: &str) -> MasterPlaylist {
        match parse(text, &base()) {
            Ok(Playlist::Master(m)) => m,
            other => panic!("expected a master playlist, got {other:?}"),
        }
    }

    #[test]
    fn header_required() {
        assert_eq!(parse("", &base()), Err(PlaylistError::NotHls));
        assert_eq!(parse("#EXTINF:10,\na.ts\n", &base()), Err(PlaylistError::NotHls));
        assert_eq!(parse("<html>nope</html>", &base()), Err(PlaylistError::NotHls));
        assert_eq!(parse("\u{0}\u{1}garbage", &base()), Err(PlaylistError::NotHls));
        assert_eq!(PlaylistError::NotHls.to_string(), "not an HLS playlist (no #EXTM3U)");
        assert_eq!(PlaylistError::NotHls.id(), "not_hls");
        // Leniency: BOM, leading blank lines and comments.
        assert!(parse("\u{feff}#EXTM3U\n", &base()).is_ok());
        assert!(parse("\n\n  #EXTM3U\n", &base()).is_ok());
        assert!(parse("# comment\n#EXTM3U\n", &base()).is_ok());
    }

    #[test]
    fn crlf_blank_lines_unknown_tags() {
        let m = media(
            "\u{feff}#EXTM3U\r\n#EXT-X-VERSION: 3\r\n\r\n#EXT-X-TARGETDURATION:10\r\n#EXT-X-FOO:BAR\r\n\
             # a comment\r\n#EXTINF:9.5,\r\n  seg0.ts  \r\n#EXTINF:10,\rseg1.ts\r\n#EXT-X-ENDLIST\r\n",
        );
        assert_eq!(m.version, Some(3));
        assert_eq!(m.target_duration, 10.0);
        assert_eq!(m.segments.len(), 2);
        assert_eq!(m.segments[0].uri.as_str(), "http://example.com/live/seg0.ts");
        assert_eq!(m.segments[1].uri.as_str(), "http://example.com/live/seg1.ts");
        assert_eq!(m.segments[0].duration, 9.5);
        assert!(m.end_list);
        assert!(!m.is_live());
        assert!((m.total_duration() - 19.5).abs() < 1e-9);
    }

    #[test]
    fn extinf_title_with_commas() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,title with, comma\na.ts\n\
             #EXTINF:5.5,Title with a comma, end\nb.ts\n#EXTINF:4\nc.ts\n#EXTINF:3.0,\td\nd.ts\n",
        );
        let d: Vec<f64> = m.segments.iter().map(|s| s.duration).collect();
        assert_eq!(d, vec![6.0, 5.5, 4.0, 3.0]);
        let u: Vec<&str> = m.segments.iter().map(|s| s.uri.path()).collect();
        assert_eq!(u, vec!["/live/a.ts", "/live/b.ts", "/live/c.ts", "/live/d.ts"]);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn extinf_missing_or_invalid_is_zero() {
        let m = media("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10\na.ts\nb.ts\n#EXTINF:abc,\nc.ts\n#EXTINF:-1 tvg-id=\"x\",Channel\nd.ts\n");
        let d: Vec<f64> = m.segments.iter().map(|s| s.duration).collect();
        assert_eq!(d, vec![10.0, 0.0, 0.0, 0.0]);
        let seq: Vec<u64> = m.segments.iter().map(|s| s.sequence).collect();
        assert_eq!(seq, vec![0, 1, 2, 3]);
        assert!(m.warnings.len() >= 3, "{:?}", m.warnings);
    }

    #[test]
    fn media_sequence_and_sequence_numbers() {
        let m = media("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:4,\na.ts\n#EXTINF:4,\nb.ts\n");
        assert_eq!(m.media_sequence, 100);
        assert_eq!(m.playlist_type, Some(PlaylistType::Event));
        assert_eq!(m.segments[0].sequence, 100);
        assert_eq!(m.segments[1].sequence, 101);
        assert!(m.is_live());
        // No target duration: the longest segment, rounded up.
        let m = media("#EXTM3U\n#EXTINF:4.2,\na.ts\n#EXTINF:6.5,\nb.ts\n");
        assert_eq!(m.target_duration, 7.0);
    }

    #[test]
    fn key_carry_forward_rotation_and_none() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXTINF:10,\nclear.ts\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"k1.bin\"\n#EXTINF:10,\na.ts\n#EXTINF:10,\nb.ts\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example.net/k2\",IV=0x000102030405060708090a0b0c0d0e0f\n\
             #EXTINF:10,\nc.ts\n#EXTINF:10,\nd.ts\n\
             #EXT-X-KEY:METHOD=NONE\n#EXTINF:10,\ne.ts\n",
        );
        let s = &m.segments;
        assert!(s[0].key.is_none());
        let k1 = s[1].key.as_ref().unwrap();
        assert_eq!(k1.method, KeyMethod::Aes128);
        assert_eq!(k1.uri.as_ref().unwrap().as_str(), "http://example.com/live/k1.bin");
        assert_eq!(k1.keyformat, "identity");
        assert!(Arc::ptr_eq(s[1].key.as_ref().unwrap(), s[2].key.as_ref().unwrap()));
        let k2 = s[3].key.as_ref().unwrap();
        assert_eq!(k2.uri.as_ref().unwrap().as_str(), "https://keys.example.net/k2");
        assert_eq!(s[4].key, s[3].key);
        assert!(s[5].key.is_none(), "METHOD=NONE clears the key");
        assert_eq!(m.keys.len(), 3);
        // IV rules (§5.2): explicit IV, else the sequence number big-endian.
        let mut want = [0u8; 16];
        want[15] = 8;
        assert_eq!(iv_for(&s[1]), want);
        want[15] = 9;
        assert_eq!(iv_for(&s[2]), want);
        let explicit: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(iv_for(&s[3]), explicit);
        assert_eq!(iv_for(&s[4]), explicit);
        assert_eq!(check_encryption(&Playlist::Media(m.clone())), Ok(()));
        assert_eq!(drm_signal(&Playlist::Media(m)), None);
    }

    #[test]
    fn iv_parsing() {
        assert_eq!(parse_iv("0X10ef8f758ca555115584bb5b3c687f52").unwrap()[0], 0x10);
        assert_eq!(parse_iv("0x1"), Some((1u128).to_be_bytes()));
        assert_eq!(parse_iv("0x"), None);
        assert_eq!(parse_iv("1234"), None);
        assert_eq!(parse_iv("0x000102030405060708090a0b0c0d0e0f00"), None);
        assert_eq!(parse_iv("0xzz"), None);
        // Large sequence numbers.
        let m = media("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:1,\na.ts\n#EXTINF:1,\nb.ts\n");
        assert_eq!(iv_for(&m.segments[0]), (u64::MAX as u128).to_be_bytes());
        assert_eq!(m.segments[1].sequence, u64::MAX, "saturates instead of panicking");
        // An invalid IV on AES-128 is an error; elsewhere ignored.
        let e = parse("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=[IV]\n#EXTINF:1,\na.ts\n", &base());
        assert!(matches!(e, Err(PlaylistError::Invalid { line: 2, .. })), "{e:?}");
        let m = media("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\",IV=bogus\n#EXTINF:1,\na.ts\n");
        assert_eq!(m.segments[0].key.as_ref().unwrap().iv, None);
    }

    #[test]
    fn attribute_lists() {
        let a = Attrs::parse(r#"METHOD=AES-128,URI="a,b=c.key", IV=0X01 ,keyformat="identity",FLAG,X="unterminated"#);
        assert_eq!(a.get("METHOD"), Some("AES-128"));
        assert_eq!(a.get("URI"), Some("a,b=c.key"));
        assert_eq!(a.get("IV"), Some("0X01"));
        assert_eq!(a.get("KEYFORMAT"), Some("identity"));
        assert_eq!(a.get("FLAG"), Some(""));
        assert_eq!(a.get("X"), Some("unterminated"));
        let a = Attrs::parse(r#"A="x"junk,B=2"#);
        assert_eq!(a.get("A"), Some("x"));
        assert_eq!(a.get("B"), Some("2"));
        for s in ["", ",", "=", "\"", "=\"", ",,=,", "A=\"", "é=ü,\"=\""] {
            let _ = Attrs::parse(s);
        }
        assert_eq!(parse_resolution("1280x720"), Some(Resolution { width: 1280, height: 720 }));
        assert_eq!(parse_resolution("1280X720"), Some(Resolution { width: 1280, height: 720 }));
        assert_eq!(parse_resolution("1280"), None);
    }

    #[test]
    fn multiple_keyformats_prefer_identity() {
        let m = media(
            "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://abc\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"plain.key\"\n#EXTINF:4,\na.ts\n\
             #EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://def\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n#EXTINF:4,\nb.ts\n",
        );
        assert_eq!(m.segments[0].key.as_ref().unwrap().method, KeyMethod::Aes128);
        assert_eq!(m.segments[1].key.as_ref().unwrap().method, KeyMethod::SampleAes);
        assert_eq!(m.keys.len(), 3);
        assert_eq!(m.keys[0].keyformat_versions.as_deref(), Some("1"));
        assert!(drm_signal(&Playlist::Media(m)).unwrap().contains("FairPlay"));
    }

    #[test]
    fn map_per_section_with_key_and_byte_range() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init1.mp4\",BYTERANGE=\"720@0\"\n\
             #EXTINF:4,\ns1.m4s\n#EXTINF:4,\ns2.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0x01\n#EXT-X-MAP:URI=\"init2.mp4\",BYTERANGE=\"500\"\n\
             #EXTINF:4,\ns3.m4s\n#EXT-X-KEY:METHOD=AES-128,URI=\"k2\"\n#EXTINF:4,\ns4.m4s\n",
        );
        let s = &m.segments;
        let m1 = s[0].map.as_ref().unwrap();
        assert_eq!(m1.uri.path(), "/live/init1.mp4");
        assert_eq!(m1.byte_range, Some(ByteRange { length: 720, offset: 0 }));
        assert_eq!(m1.byte_range.unwrap().http_range().as_deref(), Some("bytes=0-719"));
        assert!(m1.key.is_none());
        assert!(Arc::ptr_eq(s[0].map.as_ref().unwrap(), s[1].map.as_ref().unwrap()));
        let m2 = s[2].map.as_ref().unwrap();
        assert_eq!(m2.uri.path(), "/live/init2.mp4");
        assert_eq!(m2.byte_range, Some(ByteRange { length: 500, offset: 0 }));
        assert_eq!(m2.key.as_ref().unwrap().uri.as_ref().unwrap().path(), "/live/k");
        assert_eq!(s[3].map, s[2].map, "MAP carried forward across a KEY change");
        assert_eq!(s[3].key.as_ref().unwrap().uri.as_ref().unwrap().path(), "/live/k2");
        assert_eq!(s[3].map.as_ref().unwrap().key.as_ref().unwrap().uri.as_ref().unwrap().path(), "/live/k");
    }

    #[test]
    fn byte_ranges_per_uri() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n\
             #EXTINF:4,\n#EXT-X-BYTERANGE:1000@100\nmain.mp4\n\
             #EXTINF:4,\n#EXT-X-BYTERANGE:500\nmain.mp4\n\
             #EXTINF:4,\n#EXT-X-BYTERANGE:300@0\nother.mp4\n\
             #EXTINF:4,\n#EXT-X-BYTERANGE:200\nmain.mp4\n\
             #EXTINF:4,\n#EXT-X-BYTERANGE:50\nother.mp4\n\
             #EXTINF:4,\nwhole.ts\n\
             #EXTINF:4,\n#EXT-X-BYTERANGE:10\nfresh.mp4\n",
        );
        let r: Vec<Option<(u64, u64)>> =
            m.segments.iter().map(|s| s.byte_range.map(|b| (b.length, b.offset))).collect();
        assert_eq!(
            r,
            vec![
                Some((1000, 100)),
                Some((500, 1100)),
                Some((300, 0)),
                Some((200, 1600)),
                Some((50, 300)),
                None,
                Some((10, 0)),
            ]
        );
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
        assert_eq!(ByteRange { length: 0, offset: 5 }.http_range(), None);
    }

    #[test]
    fn gap_discontinuity_and_date_time() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-03-04T23:02:17.684Z\n#EXTINF:4.004,\na.ts\n\
             #EXT-X-GAP\n#EXTINF:4,\nb.ts\n\
             #EXT-X-DISCONTINUITY\n#EXTINF:2,\nc.ts\n#EXTINF:2,\nd.ts\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2024-03-05T00:00:00+01:00\n#EXTINF:2,\ne.ts\n",
        );
        let s = &m.segments;
        assert_eq!(s.iter().map(|s| s.gap).collect::<Vec<_>>(), [false, true, false, false, false]);
        assert_eq!(s.iter().map(|s| s.discontinuity).collect::<Vec<_>>(), [false, false, true, false, true]);
        assert_eq!(s.iter().map(|s| s.discontinuity_sequence).collect::<Vec<_>>(), [3, 3, 4, 4, 5]);
        let t0 = 1_709_593_337_684i64; // 2024-03-04T23:02:17.684Z
        assert_eq!(s[0].program_date_time_ms, Some(t0));
        assert_eq!(s[1].program_date_time_ms, Some(t0 + 4004));
        assert_eq!(s[2].program_date_time_ms, Some(t0 + 8004));
        assert_eq!(s[3].program_date_time_ms, Some(t0 + 10004));
        assert_eq!(s[4].program_date_time_ms, Some(1_709_593_200_000)); // 2024-03-04T23:00Z
        assert_eq!(m.discontinuity_sequence, 3);
    }

    #[test]
    fn date_time_formats() {
        assert_eq!(parse_date_time_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date_time_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_date_time_ms("2014-08-13T13:36:33.000+00:00"), Some(1_407_936_993_000));
        assert_eq!(parse_date_time_ms("2014-08-13T13:36:33+0000"), Some(1_407_936_993_000));
        assert_eq!(parse_date_time_ms("2014-08-13T15:36:33+02"), Some(1_407_936_993_000));
        assert_eq!(parse_date_time_ms("2014-08-13 13:36:33"), Some(1_407_936_993_000));
        assert_eq!(parse_date_time_ms("2000-01-01T00:00:00.00Z"), Some(946_684_800_000));
        assert_eq!(parse_date_time_ms("1969-12-31T23:59:59Z"), Some(-1000));
        for bad in [
            "",
            "2014",
            "2014-13-01T00:00:00Z",
            "2014-08-13T13:36:33Zjunk",
            "2014-08-13T13:36:33.Z",
            "x014-08-13T13:36:33Z",
            "2014-08-13T13:36:33+0",
        ] {
            assert_eq!(parse_date_time_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn ll_hls_parts_ignored_and_skip_noted() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=24,PART-HOLD-BACK=3\n\
             #EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-MEDIA-SEQUENCE:266\n\
             #EXT-X-SKIP:SKIPPED-SEGMENTS=16\n\
             #EXTINF:4,\nfileSequence282.ts\n\
             #EXT-X-PART:DURATION=1,URI=\"part283.0.ts\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part283.1.ts\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../1M/waitForMSN.php\",LAST-MSN=273,LAST-PART=2\n",
        );
        assert_eq!(m.skipped_segments, 16);
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.segments[0].sequence, 282);
    }

    const MASTER: &str = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",LANGUAGE=\"en\",NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,URI=\"audio/en.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",LANGUAGE=\"fr-CA\",NAME=\"Français\",DEFAULT=NO,URI=\"audio/fr.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"muxed\",LANGUAGE=\"en\",NAME=\"Main\",DEFAULT=YES\n\
        #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English, CC\",LANGUAGE=\"en\",URI=\"subs/en.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\",INSTREAM-ID=\"CC1\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",FRAME-RATE=29.970,AUDIO=\"aud\",SUBTITLES=\"subs\",CLOSED-CAPTIONS=\"cc\"\n\
        v360.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2560000,RESOLUTION=1280x720,CODECS=\"avc1.4d401f,mp4a.40.2\",AUDIO=\"aud\"\n\
        /abs/v720.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=7680000,RESOLUTION=1920x1080,CODECS=\"avc1.640028,mp4a.40.2\",AUDIO=\"muxed\"\n\
        https://cdn.example.org/v1080.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.5\"\n\
        audio-only.m3u8\n\
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI=\"iframe.m3u8\",RESOLUTION=640x360\n\
        #EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"session.key\"\n";

    #[test]
    fn master_parsing() {
        let m = master(MASTER);
        assert!(m.independent_segments);
        assert_eq!(m.variants.len(), 4);
        let v = &m.variants[0];
        assert_eq!(v.uri.as_str(), "http://example.com/live/v360.m3u8");
        assert_eq!(v.bandwidth, 1_280_000);
        assert_eq!(v.average_bandwidth, Some(1_000_000));
        assert_eq!(v.resolution, Some(Resolution { width: 640, height: 360 }));
        assert_eq!(v.codecs.as_deref(), Some("avc1.4d401e,mp4a.40.2"));
        assert_eq!(v.frame_rate, Some(29.97));
        assert_eq!(v.audio.as_deref(), Some("aud"));
        assert_eq!(v.subtitles.as_deref(), Some("subs"));
        assert_eq!(v.closed_captions.as_deref(), Some("cc"));
        assert!(!v.i_frame);
        assert_eq!(m.variants[1].uri.as_str(), "http://example.com/abs/v720.m3u8");
        assert_eq!(m.variants[2].uri.as_str(), "https://cdn.example.org/v1080.m3u8");
        assert!(m.variants[3].is_audio_only());
        assert!(!m.variants[0].is_audio_only());
        assert_eq!(m.i_frame_variants.len(), 1);
        assert!(m.i_frame_variants[0].i_frame);
        assert_eq!(m.i_frame_variants[0].uri.path(), "/live/iframe.m3u8");
        assert_eq!(m.renditions.len(), 5);
        let r = &m.renditions[0];
        assert_eq!(r.media_type, MediaType::Audio);
        assert_eq!((r.group_id.as_str(), r.name.as_str()), ("aud", "English"));
        assert!(r.default && r.autoselect);
        assert_eq!(r.uri.as_ref().unwrap().path(), "/live/audio/en.m3u8");
        assert_eq!(m.renditions[3].name, "English, CC");
        assert_eq!(m.renditions[4].media_type, MediaType::ClosedCaptions);
        assert_eq!(m.renditions[4].instream_id.as_deref(), Some("CC1"));
        assert_eq!(m.session_keys.len(), 1);
        assert_eq!(check_encryption(&Playlist::Master(m)), Ok(()));
    }

    #[test]
    fn quality_parse() {
        assert_eq!(Quality::parse("best"), Ok(Quality::Best));
        assert_eq!(Quality::parse(" BEST "), Ok(Quality::Best));
        assert_eq!(Quality::parse("worst"), Ok(Quality::Worst));
        assert_eq!(Quality::parse("720p"), Ok(Quality::Height(720)));
        assert_eq!(Quality::parse("1080P60"), Ok(Quality::Height(1080)));
        assert_eq!(Quality::parse("1500000"), Ok(Quality::MinBandwidth(1_500_000)));
        assert_eq!(Quality::parse("1500k"), Ok(Quality::MinBandwidth(1_500_000)));
        assert_eq!(Quality::parse("1.5M"), Ok(Quality::MinBandwidth(1_500_000)));
        assert_eq!("480p".parse::<Quality>(), Ok(Quality::Height(480)));
        let e = Quality::parse(" abc ").unwrap_err();
        assert_eq!(e, QualityError("abc".into()));
        assert_eq!(
            e.to_string(),
            "invalid quality \"abc\": expected best, worst, a height like 720p, or a bandwidth in bits/s like 1500000"
        );
        for bad in ["", "p", "720x", "abc", "-5", "7p20p", "1e9", "99999999999999999999999m", "١٢p"] {
            assert!(Quality::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn select_variant_by_quality() {
        let m = master(MASTER);
        let pick = |q: Quality| select_variant(&m, &q).map(|v| v.bandwidth);
        assert_eq!(pick(Quality::Best), Some(7_680_000));
        assert_eq!(pick(Quality::Worst), Some(1_280_000), "audio-only skipped when video exists");
        assert_eq!(pick(Quality::Height(720)), Some(2_560_000));
        assert_eq!(pick(Quality::Height(1000)), Some(2_560_000), "closest not above");
        assert_eq!(pick(Quality::Height(2160)), Some(7_680_000));
        assert_eq!(pick(Quality::Height(240)), Some(1_280_000), "lowest above");
        assert_eq!(pick(Quality::MinBandwidth(1_500_000)), Some(2_560_000));
        assert_eq!(pick(Quality::MinBandwidth(2_560_000)), Some(2_560_000));
        assert_eq!(pick(Quality::MinBandwidth(1)), Some(1_280_000));
        assert_eq!(pick(Quality::MinBandwidth(99_000_000)), Some(7_680_000), "none high enough: best");
        // Never an I-frame variant; none at all for an empty master.
        let only_iframes = master("#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\n");
        assert_eq!(select_variant(&only_iframes, &Quality::Best), None);
        // Audio-only masters still select; variants without RESOLUTION fall back to best.
        let audio = master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS=\"mp4a.40.2\"\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.5\"\nb.m3u8\n");
        assert_eq!(select_variant(&audio, &Quality::Worst).unwrap().bandwidth, 64000);
        assert_eq!(select_variant(&audio, &Quality::Height(720)).unwrap().bandwidth, 128000);
        // Same height, different bandwidths: highest bandwidth at that height.
        let same = master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=1280x720\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=3000,RESOLUTION=1280x720\nb.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=9000,RESOLUTION=1920x1080\nc.m3u8\n");
        assert_eq!(select_variant(&same, &Quality::Height(720)).unwrap().bandwidth, 3000);
        assert_eq!(select_variant(&same, &Quality::Height(480)).unwrap().bandwidth, 3000);
    }

    #[test]
    fn audio_rendition_choice() {
        let m = master(MASTER);
        let v360 = &m.variants[0];
        let name = |l: Option<&str>| select_audio(&m, v360, l).map(|r| r.name.clone());
        assert_eq!(name(None).as_deref(), Some("English"), "DEFAULT=YES");
        assert_eq!(name(Some("fr-CA")).as_deref(), Some("Français"));
        assert_eq!(name(Some("FR")).as_deref(), Some("Français"), "primary subtag");
        assert_eq!(name(Some("de")).as_deref(), Some("English"), "no match: default");
        assert_eq!(name(Some("Français")).as_deref(), Some("Français"), "by NAME");
        // Muxed-in group (no URI): none.
        assert_eq!(select_audio(&m, &m.variants[2], None), None);
        // No AUDIO group: none.
        assert_eq!(select_audio(&m, &m.variants[3], Some("en")), None);
        // No DEFAULT: the first.
        let nd = master("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"one\",URI=\"1.m3u8\"\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"two\",URI=\"2.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"a\"\nv.m3u8\n");
        assert_eq!(select_audio(&nd, &nd.variants[0], None).unwrap().name, "one");
    }

    fn drm_of(text: &str) -> Option<String> {
        drm_signal(&parse(text, &base()).unwrap())
    }

    #[test]
    fn drm_signals() {
        let seg = "#EXTINF:4,\na.ts\n";
        let fairplay = format!("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://id\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\n{seg}");
        assert!(drm_of(&fairplay).unwrap().contains("FairPlay"));
        let skd_only = format!("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"skd://id\"\n{seg}");
        assert!(drm_of(&skd_only).unwrap().contains("FairPlay"));
        let playready = format!("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;charset=UTF-16;base64,AAAA\",KEYFORMAT=\"com.microsoft.playready\"\n{seg}");
        assert!(drm_of(&playready).unwrap().contains("PlayReady"));
        let widevine = format!("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AAAA\",KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"\n{seg}");
        assert!(drm_of(&widevine).unwrap().contains("Widevine"));
        let other = format!("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",KEYFORMAT=\"com.example.drm\"\n{seg}");
        assert!(drm_of(&other).unwrap().contains("com.example.drm"));
        let sample = format!("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\"\n{seg}");
        assert!(drm_of(&sample).unwrap().contains("SAMPLE-AES"));
        let sample_ctr = format!("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"k\",KEYFORMAT=\"identity\"\n{seg}");
        assert!(drm_of(&sample_ctr).unwrap().contains("SAMPLE-AES-CTR"));
        // Every line is scanned: DRM key later in the playlist, after a clear start.
        let late = format!("#EXTM3U\n{seg}#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n{seg}#EXT-X-KEY:METHOD=NONE\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n{seg}");
        assert!(drm_of(&late).unwrap().contains("FairPlay"));
        // Session keys in a master.
        let session = "#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n";
        let r = drm_of(session).unwrap();
        assert!(r.contains("FairPlay") && r.contains("EXT-X-SESSION-KEY"), "{r}");
        let e = check_encryption(&parse(session, &base()).unwrap()).unwrap_err();
        assert_eq!(e.id(), "drm_protected");
        // Not DRM: AES-128 identity, NONE, clear.
        assert_eq!(
            drm_of(&format!("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",KEYFORMAT=\"identity\"\n{seg}")),
            None
        );
        assert_eq!(drm_of(&format!("#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n{seg}")), None);
        assert_eq!(drm_of(&format!("#EXTM3U\n{seg}")), None);
        assert_eq!(drm_of(MASTER), None);
    }

    #[test]
    fn unsupported_methods() {
        let text = "#EXTM3U\n#EXT-X-KEY:METHOD=AES-256,URI=\"k\",IV=0x01\n#EXTINF:4\na.m4s\n#EXT-X-KEY:METHOD=AES-256-CTR,URI=\"k2\"\n#EXTINF:4\nb.m4s\n";
        let p = parse(text, &base()).unwrap();
        assert_eq!(drm_signal(&p), None);
        assert_eq!(unsupported_encryption(&p).as_deref(), Some("AES-256"));
        let e = check_encryption(&p).unwrap_err();
        assert_eq!(e, PlaylistError::UnsupportedEncryption("AES-256".into()));
        assert_eq!(e.id(), "unsupported_encryption");
        let Playlist::Media(m) = p else { panic!() };
        assert_eq!(m.segments[0].key.as_ref().unwrap().method, KeyMethod::Other("AES-256".into()));
    }

    #[test]
    fn master_and_media_is_an_error() {
        let e = parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXTINF:4,\na.ts\n", &base());
        assert_eq!(e, Err(PlaylistError::MasterAndMedia { master_line: 2, media_line: 4 }));
        assert_eq!(e.unwrap_err().id(), "invalid_playlist");
        // Stray media tags in a master: warned, still a master.
        let m = master("#EXTM3U\n#EXT-X-TARGETDURATION:\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\nstray.m3u8\n");
        assert_eq!(m.variants.len(), 1);
        assert!(m.warnings.len() >= 2, "{:?}", m.warnings);
        // STREAM-INF without BANDWIDTH or URI: lenient.
        let m = master("#EXTM3U\n#EXT-X-STREAM-INF:PROGRAM-ID=1\nmedia.m3u8\n#EXT-X-STREAM-INF:\nmedia1.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=5\n");
        assert_eq!(m.variants.len(), 2);
        assert_eq!(m.variants[0].bandwidth, 0);
    }

    #[test]
    fn size_limits() {
        let big = "#EXTM3U\n".to_string() + &" ".repeat(MAX_PLAYLIST_BYTES);
        let e = parse(&big, &base()).unwrap_err();
        assert!(matches!(e, PlaylistError::TooLarge { .. }));
        assert!(e.to_string().contains("too large"), "{e}");
        // MAX_SEGMENTS + 1 bare one-character URIs fit in 20 MB.
        let mut many = String::with_capacity(2 * MAX_SEGMENTS + 20);
        many.push_str("#EXTM3U\n");
        for _ in 0..=MAX_SEGMENTS {
            many.push_str("a\n");
        }
        let e = parse(&many, &base()).unwrap_err();
        assert_eq!(e, PlaylistError::TooManySegments { limit: MAX_SEGMENTS });
        assert!(e.to_string().contains("too many segments"));
    }

    #[test]
    fn unresolvable_uris() {
        let b = base();
        let e = parse("#EXTM3U\n#EXTINF:1,\nhttp://[::1\n", &b);
        assert!(matches!(e, Err(PlaylistError::Invalid { line: 3, .. })), "{e:?}");
        let msg = e.unwrap_err().to_string();
        assert!(msg.starts_with("invalid HLS playlist at line 3: cannot resolve URI \"http://[::1\": "), "{msg}");
        let m = master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://[bad\n#EXT-X-STREAM-INF:BANDWIDTH=2\nok.m3u8\n");
        assert_eq!(m.variants.len(), 1);
        let m = media("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"http://[bad\"\n#EXTINF:1,\na.ts\n");
        assert!(m.segments[0].key.as_ref().unwrap().uri.is_none());
    }

    #[test]
    fn truncated_and_garbage_input_never_panics() {
        let samples = [MASTER.to_string(), format!("{MASTER}#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\"\n"),
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PROGRAM-DATE-TIME:2024-03-04T23:02:17.684Z\n#EXT-X-MAP:URI=\"i.mp4\",BYTERANGE=\"7@1\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0x0a\n#EXTINF:4.0,x, y\n#EXT-X-BYTERANGE:10@5\na.ts\n#EXT-X-GAP\n#EXT-X-DISCONTINUITY\n#EXTINF:4,\n#EXT-X-BYTERANGE:3\na.ts\n#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n#EXT-X-ENDLIST\n".to_string()];
        for s in &samples {
            for cut in 0..=s.len() {
                if let Some(prefix) = s.get(..cut) {
                    if let Ok(p) = parse(prefix, &base()) {
                        let _ = drm_signal(&p);
                        let _ = check_encryption(&p);
                        if let Playlist::Master(m) = &p {
                            for q in [Quality::Best, Quality::Worst, Quality::Height(720), Quality::MinBandwidth(5)] {
                                if let Some(v) = select_variant(m, &q) {
                                    let _ = select_audio(m, v, Some("en"));
                                }
                            }
                        }
                    }
                }
            }
        }
        // Pseudo-random garbage built from playlist-ish tokens.
        let tokens = [
            "#EXTM3U",
            "#EXTINF:",
            "#EXT-X-KEY:",
            "METHOD=",
            "AES-128",
            "URI=",
            "\"",
            ",",
            "=",
            "@",
            "#EXT-X-BYTERANGE:",
            "#EXT-X-MAP:",
            "#EXT-X-STREAM-INF:",
            "#EXT-X-MEDIA:",
            "\n",
            "\r",
            "0x",
            "ff",
            "-1",
            "99999999999999999999",
            "é",
            "\u{feff}",
            "#EXT-X-PROGRAM-DATE-TIME:",
            "2024-",
            "T",
            ":",
            "+",
            "#EXT-X-SKIP:SKIPPED-SEGMENTS=",
            "#EXT-X-DISCONTINUITY",
            "#EXT-X-GAP",
            "a.ts",
            "http://[",
            "//x",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut s = String::from("#EXTM3U\n");
            for _ in 0..40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push_str(tokens[(state % tokens.len() as u64) as usize]);
            }
            if let Ok(p) = parse(&s, &base()) {
                let _ = drm_signal(&p);
                let _ = unsupported_encryption(&p);
                if let Playlist::Media(m) = &p {
                    for seg in &m.segments {
                        let _ = iv_for(seg);
                        let _ = seg.byte_range.map(|b| b.http_range());
                    }
                }
            }
        }
    }

    // ----- the shared real-world corpus -------------------------------------------------

    fn corpus_root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/m3u8")
    }

    fn corpus_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                corpus_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "m3u8") {
                out.push(p);
            }
        }
    }

    #[test]
    #[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
    fn corpus() {
        let root = corpus_root();
        let root = root.as_path();
        let mut files = Vec::new();
        corpus_files(root, &mut files);
        files.sort();
        assert_eq!(files.len(), 310, "expected the 310 corpus playlists");
        let (mut n_master, mut n_media, mut n_err) = (0, 0, 0);
        let mut errors: Vec<String> = Vec::new();
        let mut drm: Vec<String> = Vec::new();
        let mut unsupported: Vec<String> = Vec::new();
        let mut with_warnings = 0;
        let mut results = HashMap::new();
        for f in &files {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(f).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let base = Url::parse(&format!("http://127.0.0.1:1/{rel}")).unwrap();
            let r = std::panic::catch_unwind(|| parse(&text, &base));
            let r = r.unwrap_or_else(|_| panic!("parse panicked on {rel}"));
            match &r {
                Ok(p) => {
                    match p {
                        Playlist::Master(m) => {
                            n_master += 1;
                            for q in
                                [Quality::Best, Quality::Worst, Quality::Height(720), Quality::MinBandwidth(1_500_000)]
                            {
                                if let Some(v) = select_variant(m, &q) {
                                    let _ = select_audio(m, v, Some("en"));
                                }
                            }
                        }
                        Playlist::Media(m) => {
                            n_media += 1;
                            for s in &m.segments {
                                let _ = iv_for(s);
                            }
                        }
                    }
                    if !p.warnings().is_empty() {
                        with_warnings += 1;
                    }
                    if let Some(d) = drm_signal(p) {
                        drm.push(format!("{rel}: {d}"));
                    } else if let Some(u) = unsupported_encryption(p) {
                        unsupported.push(format!("{rel}: {u}"));
                    }
                }
                Err(e) => {
                    n_err += 1;
                    errors.push(format!("{rel}: {e}"));
                }
            }
            if rel == "grafov__media-playlist-large.m3u8" {
                // Best of 3 (the machine may be busy with other test threads).
                let elapsed = (0..3)
                    .map(|_| {
                        let started = std::time::Instant::now();
                        let _ = parse(&text, &base);
                        started.elapsed()
                    })
                    .min()
                    .unwrap();
                eprintln!("{rel}: {} bytes parsed in {elapsed:?}", bytes.len());
                // Release: ~50 ms; an unoptimised build ~300 ms (mostly `url`).
                let limit = if cfg!(debug_assertions) { 900 } else { 250 };
                assert!(elapsed < std::time::Duration::from_millis(limit), "{rel} took {elapsed:?}");
                let Ok(Playlist::Media(m)) = &r else { panic!("{rel}: {r:?}") };
                assert!(m.segments.len() > 10_000, "{}", m.segments.len());
            }
            results.insert(rel, r);
        }
        eprintln!("\n=== HLS corpus: {} playlists ===", files.len());
        eprintln!("| result | count |\n|---|---|");
        eprintln!("| master | {n_master} |\n| media | {n_media} |\n| error | {n_err} |");
        eprintln!("(parsed with warnings: {with_warnings})");
        eprintln!("\nerrors:");
        for e in &errors {
            eprintln!("  {e}");
        }
        eprintln!("\nDRM signals:");
        for d in &drm {
            eprintln!("  {d}");
        }
        eprintln!("\nunsupported encryption:");
        for u in &unsupported {
            eprintln!("  {u}");
        }
        assert_eq!(n_master + n_media + n_err, 310);

        // The four complete folders must parse (and be what a recorder needs).
        let media_of = |name: &str| match results.get(name) {
            Some(Ok(Playlist::Media(m))) => m.clone(),
            other => panic!("{name}: {other:?}"),
        };
        let roll = media_of("shaka__hls-ts-rollover/playlist.m3u8");
        assert_eq!(roll.segments.len(), 10);
        assert!(roll.end_list);
        assert_eq!(
            roll.segments[0].uri.as_str(),
            "http://127.0.0.1:1/shaka__hls-ts-rollover/360p30_h264_48k_160_aac_ts-0000000024.ts"
        );
        assert!(roll.segments.iter().all(|s| s.program_date_time_ms.is_some()));
        let gap = media_of("shaka__hls-gap/playlist.m3u8");
        assert_eq!(gap.segments.len(), 8);
        assert_eq!(gap.segments.iter().filter(|s| s.gap).count(), 2);
        assert!(gap.segments[0].gap && gap.segments[4].gap);
        let aac = media_of("shaka__hls-ts-raw-aac/playlist.m3u8");
        assert_eq!(aac.segments.len(), 4);
        match results.get("shaka__hls-ts-raw-aac/index.m3u8") {
            Some(Ok(Playlist::Master(m))) => {
                let v = select_variant(m, &Quality::Best).unwrap();
                assert_eq!(v.uri.as_str(), "http://127.0.0.1:1/shaka__hls-ts-raw-aac/playlist.m3u8");
            }
            other => panic!("raw-aac index: {other:?}"),
        }
        let aes = media_of("shaka__hls-aes-256/media.m3u8");
        assert_eq!(aes.segments.len(), 5);
        assert_eq!(
            aes.segments[0].map.as_ref().unwrap().key.as_ref().unwrap().uri.as_ref().unwrap().path(),
            "/shaka__hls-aes-256/init.key"
        );
        assert_eq!(aes.segments[4].key.as_ref().unwrap().method, KeyMethod::Other("AES-256-CTR".into()));
        assert_eq!(
            check_encryption(&Playlist::Media(aes)),
            Err(PlaylistError::UnsupportedEncryption("AES-256".into()))
        );
        // Known DRM / malformed cases in the corpus.
        assert!(matches!(results.get("videojs__manifestNoExtM3u.m3u8"), Some(Err(PlaylistError::NotHls))));
        assert!(matches!(results.get("shaka__hls-sample-aes__index.m3u8"), Some(Ok(p)) if drm_signal(p).is_some()));
    }
}
