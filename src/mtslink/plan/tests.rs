use super::*;
use media::time::Ticks90k;
use serde_json::json;

fn clip<'p>(p: &'p Plan, id: &str) -> &'p PlanClip {
    p.clips.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no clip {id} in {:#?}", p.clips))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn cam(id: u64, conf: u64, user: u64, nick: &str) -> Value {
    json!({"id": id, "url": format!("https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/c{id}.mp4"),
           "hlsUrl": format!("https://events-delivery-records.webinar.ru/record/2024/01/01/c{id}.mp4/playlist.m3u8"),
           "stream": {"conference": {"id": conf, "user": {"id": user, "nickname": nick}}}})
}

fn ev(module: &str, rt: f64, data: Value) -> Value {
    json!({"module": module, "relativeTime": rt, "data": data})
}

/// A webinar with two overlapping cameras, a screen share, an audio-only participant,
/// durations, a mute-then-leave and stream deletions.
fn webinar() -> Value {
    json!({
        "name": "Вебинар: тест", "duration": 300.0,
        "eventLogs": [
            {"module": "eventsession.start", "relativeTime": 0, "data": {},
             "snapshot": {"data": {"userlist": [
                 {"role": "ADMIN", "user": {"id": 1, "nickname": "Admin"}},
                 {"role": "LECTURER", "user": {"id": 2, "nickname": "Lecturer"}},
                 {"role": "GUEST", "user": {"id": 99, "nickname": "Viewer"}}]}}},
            ev("conference.add", 1.0, json!({"id": 10, "hasVideo": true, "hasAudio": true, "user": {"id": 2, "nickname": "Lecturer"}})),
            ev("conference.add", 1.0, json!({"id": 11, "hasVideo": true, "hasAudio": true, "user": {"id": 3, "nickname": "Guest Cam"}})),
            ev("conference.add", 1.0, json!({"id": 12, "hasVideo": false, "hasAudio": true, "user": {"id": 4, "nickname": "Mic Only"}})),
            ev("mediasession.add", 10.0, cam(100, 10, 2, "Lecturer")),
            ev("mediasession.add", 12.0, cam(101, 11, 3, "Guest Cam")),
            ev("mediasession.add", 13.0, cam(102, 12, 4, "Mic Only")),
            ev("mediasession.add", 20.0, json!({"id": 103, "url": "https://s/screen.mp4",
                "stream": {"screensharing": {"id": 77, "user": {"id": 2, "nickname": "Lecturer"}}}})),
            ev("unknown.module", 21.0, json!({"url": 5, "whatever": [1, 2]})),
            ev("mediasession.update", 60.0, json!({"id": 100, "duration": 100.5})),
            ev("mediasession.update", 62.0, json!({"id": 101, "duration": "50"})),
            // Mic-only participant mutes, then leaves: the recorded audio stays.
            ev("conference.update", 90.0, json!({"id": 12, "hasAudio": false, "hasVideo": false})),
            ev("conference.delete", 91.0, json!({"id": 12, "isDeleted": true})),
            // The guest's camera stream ends.
            ev("conference.stream.delete", 40.0, json!({"id": 11})),
            ev("screensharing.stream.delete", 80.0, json!({"id": 77})),
            // Stream deletion of an unknown stream: nothing happens.
            ev("conference.stream.delete", 81.0, json!({"id": 555})),
            "not an event",
            {"module": 5, "relativeTime": "x"},
        ]
    })
}

#[test]
fn cameras_screen_audio_durations() {
    let p = build_plan(&webinar()).unwrap();
    assert_eq!(p.name, "Вебинар: тест");
    assert_eq!(p.duration, Some(300.0));
    assert_eq!(p.clips.len(), 4);

    let a = clip(&p, "100");
    assert_eq!(a.kind, SourceKind::Camera);
    assert!(close(a.start, 10.0));
    assert_eq!(a.duration, Some(100.5));
    assert_eq!(a.end, None);
    assert_eq!(a.length(), Some(100.5));
    assert_eq!(a.user_name.as_deref(), Some("Lecturer"));
    assert_eq!(a.stream_id.as_deref(), Some("10"));
    assert!(a.hls_url.as_deref().unwrap().ends_with("playlist.m3u8"));
    assert_eq!(a.file_name(), "chunk_100_c100.mp4");

    // Overlapping second camera, ended by conference.stream.delete at 40.
    let b = clip(&p, "101");
    assert_eq!(b.kind, SourceKind::Camera);
    assert!(close(b.start, 12.0));
    assert_eq!(b.duration, Some(50.0));
    assert_eq!(b.end, Some(40.0));
    assert_eq!(b.length(), Some(28.0));

    // Audio-only participant: mute then leave keeps the clip and its audio.
    let m = clip(&p, "102");
    assert_eq!(m.kind, SourceKind::AudioOnly);
    assert_eq!(m.has_audio, Some(true));
    assert_eq!(m.has_video, Some(false));
    assert_eq!(m.end, Some(91.0));

    let s = clip(&p, "103");
    assert_eq!(s.kind, SourceKind::Screen);
    assert_eq!(s.stream_id.as_deref(), Some("77"));
    assert_eq!(s.end, Some(80.0));

    // Participants: presenters from the user list, media users; the mere viewer is not listed.
    let names: Vec<(&str, Option<&str>)> =
        p.participants.iter().map(|x| (x.name.as_str(), x.role.as_deref())).collect();
    assert_eq!(
        names,
        [("Admin", Some("ADMIN")), ("Lecturer", Some("LECTURER")), ("Guest Cam", None), ("Mic Only", None)]
    );
    assert!(p.participants[1].is_presenter());
}

#[test]
fn flag_changes_in_time_order_only_upgrade() {
    // Events out of order in the log: the update at 30 (video on) comes first in the array.
    let j = json!({"eventLogs": [
        ev("conference.update", 30.0, json!({"id": 5, "hasVideo": true})),
        ev("conference.add", 1.0, json!({"id": 5, "hasVideo": false, "hasAudio": true, "user": {"id": 9, "nickname": "P"}})),
        ev("mediasession.add", 2.0, cam(1, 5, 9, "P")),
        ev("mediasession.update", 100.0, json!({"id": 1, "duration": 60})),
        // After the first chunk ended: the second chunk starts with video.
        ev("mediasession.add", 70.0, cam(2, 5, 9, "P")),
        ev("conference.update", 80.0, json!({"id": 5, "hasVideo": false, "hasAudio": false})),
    ]});
    let p = build_plan(&j).unwrap();
    // Chunk 1 started audio-only, video came on while it was open: upgraded to camera.
    assert_eq!(clip(&p, "1").kind, SourceKind::Camera);
    assert_eq!(clip(&p, "1").has_video, Some(true));
    // Chunk 2 started with video; the later mute/camera-off does not downgrade it.
    assert_eq!(clip(&p, "2").kind, SourceKind::Camera);
    assert_eq!(clip(&p, "2").has_audio, Some(true));

    // A clip whose conference is only announced later takes the first state seen.
    let j = json!({"eventLogs": [
        ev("mediasession.add", 2.0, cam(1, 6, 9, "P")),
        ev("conference.add", 2.5, json!({"id": 6, "hasVideo": false, "hasAudio": true})),
    ]});
    let p = build_plan(&j).unwrap();
    assert_eq!(clip(&p, "1").kind, SourceKind::AudioOnly);
}

#[test]
fn slides_all_variants() {
    let file = json!({"name": "deck.pdf", "slides": [
        {"number": 1, "url": "https://s/1.jpg"}, {"number": 2, "url": "https://s/2.jpg"}, {"number": 3, "url": "https://s/3.jpg"}]});
    let j = json!({"duration": 100.0, "eventLogs": [
        ev("presentation.update", 5.0, json!({"isActive": true, "fileReference": {"file": file, "slide": {"number": 1, "url": "https://s/1.jpg"}}})),
        // Same slide again: no new interval.
        ev("presentation.update", 6.0, json!({"isActive": true, "fileReference": {"file": file, "slide": {"number": 1, "url": "https://s/1.jpg"}}})),
        // Slide by number only: url from file.slides.
        ev("presentation.update", 10.0, json!({"isActive": true, "fileReference": {"file": file, "slide": {"number": 2}}})),
        // Hidden.
        ev("presentation.update", 20.0, json!({"isActive": false})),
        // Slide directly under data, downloadUrl only.
        ev("presentation.update", 30.0, json!({"isActive": true, "slide": {"number": 3, "downloadUrl": "https://s/3.jpg"}})),
        // Flattened: url directly on data.
        ev("presentation.update", 40.0, json!({"url": "https://s/x.png", "number": 7})),
        ev("presentation.update", 50.0, json!({"isDeleted": true})),
        ev("presentation.update", 60.0, json!({"isActive": true, "fileReference": {"slide": {"url": "https://s/last.jpg"}}})),
    ]});
    let p = build_plan(&j).unwrap();
    let got: Vec<(f64, Option<f64>, &str, Option<u32>)> =
        p.slides.iter().map(|s| (s.start, s.end, s.url.as_str(), s.number)).collect();
    assert_eq!(
        got,
        [
            (5.0, Some(10.0), "https://s/1.jpg", Some(1)),
            (10.0, Some(20.0), "https://s/2.jpg", Some(2)),
            (30.0, Some(40.0), "https://s/3.jpg", Some(3)),
            (40.0, Some(50.0), "https://s/x.png", Some(7)),
            (60.0, Some(100.0), "https://s/last.jpg", None),
        ]
    );
    assert_eq!(p.slides[0].presentation.as_deref(), Some("deck.pdf"));
    flow_in_code_is_the_flow_json(&p);
}

#[test]
fn chat_messages() {
    let j = json!({"eventLogs": [
        ev("message.add", 12.5, json!({"id": 1, "text": "Привет", "authorName": "Анна", "createAt": "2024-01-01T10:00:00"})),
        ev("message.add", 3.0, json!({"id": 2, "text": "first", "user": {"nickname": "Bob"}})),
        ev("message.add", 13.0, json!({"id": 1, "text": "Привет", "authorName": "Анна"})),
        ev("message.add", 14.0, json!({"id": 3, "text": ""})),
    ]});
    let p = build_plan(&j).unwrap();
    let got: Vec<(f64, &str, &str)> = p.chat.iter().map(|m| (m.time, m.author.as_str(), m.text.as_str())).collect();
    assert_eq!(got, [(3.0, "Bob", "first"), (12.5, "Анна", "Привет")]);
    let mut p = p;
    p.duration = Some(20.0);
    flow_in_code_is_the_flow_json(&p);
}

#[test]
fn cuts_epoch_vs_relative_time() {
    // Record starts at epoch B; B+100..B+200 was cut (100 s removed).
    const B: f64 = 1_700_000_000.0;
    let t = |x: f64| B + x;
    let j = json!({"duration": 500.0, "cuts": [{"start": t(100.0), "end": t(200.0)}], "eventLogs": [
        {"module": "eventsession.start", "time": t(0.0), "relativeTime": 0, "data": {}},
        {"module": "chat.x", "time": t(50.0), "relativeTime": 50, "data": {}},
        {"module": "chat.y", "time": t(300.0), "relativeTime": 200, "data": {}},
        // Chunk time agrees with relativeTime (148 vs 149): the epoch mapping wins.
        {"module": "mediasession.add", "time": t(249.0), "relativeTime": 149, "data": {"id": 1, "url": "a.mp4", "time": t(248.0)}},
        // Chunk that started inside the cut: placed at the cut, its first 50 s skipped.
        {"module": "mediasession.add", "time": t(200.0), "relativeTime": 100, "data": {"id": 2, "url": "b.mp4", "time": t(150.0)}},
        // Disagreement beyond 2 s (mapped 400 vs 200): relativeTime wins.
        {"module": "mediasession.add", "time": t(300.0), "relativeTime": 200, "data": {"id": 3, "url": "c.mp4", "time": t(500.0)}},
        // Milliseconds are recognised.
        {"module": "mediasession.add", "time": t(60.0) * 1000.0, "relativeTime": 60, "data": {"id": 4, "url": "d.mp4", "time": t(59.5) * 1000.0}},
        // Preroll: the chunk began 10 s before the record.
        {"module": "mediasession.add", "time": t(0.0), "relativeTime": 0, "data": {"id": 5, "url": "e.mp4", "time": t(-10.0)}},
        {"module": "mediasession.update", "time": t(100.0), "relativeTime": 100, "data": {"id": 5, "duration": 40}},
    ]});
    let p = build_plan(&j).unwrap();
    assert!(close(clip(&p, "1").start, 148.0));
    assert!(close(clip(&p, "1").offset, 0.0));
    assert!(close(clip(&p, "2").start, 100.0));
    assert!(close(clip(&p, "2").offset, 50.0));
    assert!(close(clip(&p, "3").start, 200.0));
    assert!(close(clip(&p, "4").start, 59.5));
    let e = clip(&p, "5");
    assert!(close(e.start, 0.0) && close(e.offset, 10.0));
    assert_eq!(e.length(), Some(30.0));
    assert_eq!(p.cuts, [Cut { start: t(100.0), end: t(200.0), at: Some(100.0) }]);
    // The offset reaches the flow JSON.
    let flow = p.to_flow_json(|c| c.file_name());
    let logs = flow["eventLogs"].as_array().unwrap();
    let e = logs.iter().find(|l| l["data"]["id"] == "5").unwrap();
    assert_eq!(e["data"]["offset"], 10.0);
    assert_eq!(e["data"]["duration"], 30.0);
}

#[test]
fn preroll_snapshots_later_wins() {
    let j = json!({"eventLogs": [
        {"module": "eventsession.start", "relativeTime": 0, "data": {},
         "snapshot": {"data": {"mediasession": [{"id": 1, "url": "https://s/preroll.mp4",
             "stream": {"conference": {"id": 10}}}]}}},
        {"module": "cut.end", "relativeTime": 0, "data": {},
         "snapshot": {"data": {"mediasession": [{"id": 2, "url": "https://s/real.mp4",
             "stream": {"conference": {"id": 10}}}]}}},
        ev("mediasession.add", 50.0, cam(3, 10, 1, "A")),
    ]});
    let p = build_plan(&j).unwrap();
    let ids: Vec<&str> = p.clips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["2", "3"]);
}

#[test]
fn snapshot_only_record() {
    let snap = |rt: f64, ms: Value| json!({"module": "cut.end", "relativeTime": rt, "data": {}, "snapshot": {"data": {"mediasession": ms}}});
    let a1 =
        json!({"url": "https://s/a1.mp4", "stream": {"conference": {"id": 1, "user": {"id": 7, "nickname": "Lec"}}}});
    let a2 =
        json!({"url": "https://s/a2.mp4", "stream": {"conference": {"id": 1, "user": {"id": 7, "nickname": "Lec"}}}});
    let s1 = json!({"url": "https://s/s1.mp4", "stream": {"screensharing": {"id": 2}}});
    let j = json!({"duration": 400, "eventLogs": [
        {"module": "eventsession.start", "relativeTime": 0, "data": {},
         "snapshot": {"data": {"conference": [{"id": 1, "hasVideo": true, "hasAudio": true}]}}},
        snap(0.0, json!([a1])),
        snap(100.0, json!([a1, s1])),
        snap(200.0, json!([a2, s1])),
        {"module": "unknown", "relativeTime": 250.0, "snapshot": {"data": {"mediasession": "garbage"}}},
    ]});
    let p = build_plan(&j).unwrap();
    assert_eq!(p.clips.len(), 3, "{:#?}", p.clips);
    let by_url = |u: &str| p.clips.iter().find(|c| c.url.ends_with(u)).unwrap();
    let a1 = by_url("a1.mp4");
    assert_eq!((a1.start, a1.end, a1.kind), (0.0, Some(200.0), SourceKind::Camera));
    assert_eq!(a1.user_name.as_deref(), Some("Lec"));
    let s1 = by_url("s1.mp4");
    assert_eq!((s1.start, s1.end, s1.kind), (100.0, None, SourceKind::Screen));
    let a2 = by_url("a2.mp4");
    assert_eq!((a2.start, a2.end), (200.0, None));
    // Ids are synthesised deterministically from the url.
    assert!(a1.id.starts_with('u') && a1.id.len() == 17);
    assert_eq!(build_plan(&j).unwrap().clips[0].id, p.clips[0].id);
    assert!(a1.file_name().starts_with("chunk_u") && a1.file_name().ends_with("_a1.mp4"));
}

#[test]
fn unknown_modules_and_fields_are_ignored() {
    let j = json!({"name": 5, "duration": "12.5", "convertedRecords": [], "extra": {"x": 1}, "eventLogs": [
        {"module": "question.add", "relativeTime": 1, "data": {"text": "q?"}},
        {"module": "eventSession.raisingHand.add", "relativeTime": 1, "data": null},
        {"module": "mediasession.add", "relativeTime": 2, "data": {"id": 1, "url": null}},
        {"module": "mediasession.add", "relativeTime": 2, "data": "str"},
        {"module": "mediasession.add", "relativeTime": 3, "data": {"id": 2, "url": "x.mp4", "stream": 5, "newField": true}},
        {"module": "presentation.update", "relativeTime": 3, "data": {"fileReference": 7}},
        {"module": "message.add", "relativeTime": 3, "data": {"text": 5}},
        {"module": "conference.add", "data": {"id": {"nested": 1}}},
        {"module": "userlist.add", "relativeTime": 1, "data": [1, 2]},
        [1, 2, 3],
        null,
    ]});
    let p = build_plan(&j).unwrap();
    assert_eq!(p.name, "record");
    assert_eq!(p.duration, Some(12.5));
    assert_eq!(p.clips.len(), 1);
    assert_eq!(p.clips[0].kind, SourceKind::Camera);
    assert!(p.slides.is_empty() && p.chat.is_empty());
}

#[test]
fn corrupted_json_clear_errors() {
    let text = serde_json::to_string(&webinar()).unwrap();
    let cut = &text.as_bytes()[..text.len() / 2];
    let e = build_plan_from_slice(cut).unwrap_err();
    assert!(matches!(e, PlanError::Truncated { .. }));
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(build_plan_from_slice(b"").unwrap_err().to_string().contains("truncated"));
    let e = build_plan_from_slice(b"<html>502</html>").unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    assert_eq!(build_plan(&json!([1])).unwrap_err(), PlanError::NotObject);
    assert_eq!(build_plan(&json!({"name": "x"})).unwrap_err(), PlanError::NoEventLogs);
    assert_eq!(build_plan(&json!({"eventLogs": {}})).unwrap_err(), PlanError::EventLogsNotArray);
    let e = build_plan(&json!({"error": {"code": 403, "message": "denied"}})).unwrap_err();
    assert!(e.to_string().contains("eventLogs"));
}

#[test]
fn flow_json_is_what_the_compiler_reads() {
    let p = build_plan(&webinar()).unwrap();
    let flow = p.to_flow_json(|c| c.file_name());
    let bytes = serde_json::to_vec(&flow).unwrap();
    let f = crate::mtslink::flow::parse(&bytes, Path::new("/job")).unwrap();
    assert_eq!(f.name, "Вебинар: тест");
    assert_eq!(f.duration, Some(Ticks90k(300 * 90_000)));
    assert_eq!(f.clips.len(), 4);
    assert_eq!(f.clips[0].path, Path::new("/job/chunk_100_c100.mp4"));
    assert_eq!(f.clips[0].start, Ticks90k(10 * 90_000));
    assert_eq!(f.clips[0].max_len, Some(Ticks90k(100 * 90_000 + 45_000)));
    // The guest's camera is bounded by its stream deletion (40 - 12).
    let g = f.clips.iter().find(|c| c.id.as_deref() == Some("101")).unwrap();
    assert_eq!(g.max_len, Some(Ticks90k(28 * 90_000)));
    // Zero-length clips are left out.
    let mut p2 = p.clone();
    p2.clips[0].end = Some(p2.clips[0].start);
    assert_eq!(p2.to_flow_json(|c| c.file_name())["eventLogs"].as_array().unwrap().len(), 3);
    flow_in_code_is_the_flow_json(&p);
    flow_in_code_is_the_flow_json(&p2);
}

/// [`Plan::to_flow`] (what the webinar compiles) is exactly the flow `stitch compile` reads
/// from the plan's flow.json: clips, sources (kind, user, name, presenter), slides, chat.
fn flow_in_code_is_the_flow_json(p: &Plan) {
    let job = Path::new("/job");
    let mut json = p.to_flow_json(|c| c.file_name());
    let logs = json["eventLogs"].as_array_mut().unwrap();
    logs.extend(p.slide_flow_events(|i, s| s.file_name(i)));
    logs.extend(p.chat_flow_events());
    let read = crate::mtslink::flow::parse(&serde_json::to_vec_pretty(&json).unwrap(), job).unwrap();
    assert_eq!(p.to_flow(job).unwrap(), read);
}

#[test]
fn manifest_roundtrip() {
    let p = build_plan(&webinar()).unwrap();
    let dir = std::env::temp_dir().join(format!("stitch-manifest-{}", std::process::id()));
    p.write_manifest(&dir).unwrap();
    assert!(dir.join(MANIFEST_FILE).exists());
    assert!(!dir.join("manifest.json.tmp").exists());
    let back = Plan::read_manifest(&dir).unwrap();
    assert_eq!(back, p);
    std::fs::write(dir.join(MANIFEST_FILE), b"{").unwrap();
    assert_eq!(Plan::read_manifest(&dir).unwrap_err().kind(), io::ErrorKind::InvalidData);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_names_are_deterministic_and_safe() {
    let mut c = build_plan(&webinar()).unwrap().clips[0].clone();
    c.id = "../9".into();
    c.url = "https://h/a/b/../we ird%20name.mp4?x=1#f".into();
    assert_eq!(c.file_name(), "chunk_.._9_we_ird_20name.mp4");
    c.url = "https://h/".into();
    c.id = "5".into();
    assert_eq!(c.file_name(), "chunk_5_h");
    c.url = "".into();
    assert_eq!(c.file_name(), "chunk_5.mp4");
}

// ---- chunks recorded across cuts ------------------------------------------------------

const B: f64 = 1_700_000_000.0;

/// A record with `cuts` (wall seconds after `B`) and events; the first event anchors the
/// timeline origin at `B`.
fn cut_record(cuts: &[(f64, f64)], events: Vec<Value>) -> Value {
    let mut logs = vec![json!({"module": "eventsession.start", "time": B, "relativeTime": 0, "data": {}})];
    logs.extend(events);
    let cuts: Vec<Value> = cuts.iter().map(|&(s, e)| json!({"start": B + s, "end": B + e})).collect();
    json!({"duration": 1000.0, "cuts": cuts, "eventLogs": logs})
}

/// An event at wall second `w`, its relativeTime on the cut timeline.
fn ev_at(cuts: &[(f64, f64)], module: &str, w: f64, data: Value) -> Value {
    let removed: f64 = cuts.iter().map(|&(s, e)| (w - s).clamp(0.0, e - s)).sum();
    json!({"module": module, "time": B + w, "relativeTime": w - removed, "data": data})
}

/// `mediasession.add` of chunk `id` recorded from wall second `w`, and its update with
/// `dur` (when given) at its end.
fn chunk_at(cuts: &[(f64, f64)], id: u64, w: f64, dur: Option<f64>) -> Vec<Value> {
    let mut data = cam(id, 10, 1, "L");
    data["time"] = json!(B + w);
    let mut v = vec![ev_at(cuts, "mediasession.add", w, data)];
    if let Some(d) = dur {
        v.push(ev_at(cuts, "mediasession.update", w + d, json!({"id": id, "duration": d})));
    }
    v
}

/// (id, start, offset, timeline end, chunk_id) of a clip.
type Part<'a> = (&'a str, f64, f64, Option<f64>, Option<&'a str>);

/// Every clip as a [`Part`], in plan order.
fn parts(p: &Plan) -> Vec<Part<'_>> {
    p.clips.iter().map(|c| (c.id.as_str(), c.start, c.offset, c.timeline_end(), c.chunk_id.as_deref())).collect()
}

#[test]
fn chunk_across_a_cut_is_split_in_two() {
    // Recorded W 50..250, cut W 100..200: T 50..100 from the file's 0 s, then T 100..150
    // from the file's 150 s.
    let cuts = [(100.0, 200.0)];
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 50.0, Some(200.0)))).unwrap();
    assert_eq!(
        parts(&p),
        [("1", 50.0, 0.0, Some(100.0), None), ("1#2", 100.0, 150.0, Some(150.0), Some("1"))],
        "{:#?}",
        p.clips
    );
    // Both parts keep the chunk's duration and url and name one file: one download.
    assert!(p.clips.iter().all(|c| c.duration == Some(200.0) && c.url.ends_with("/c1.mp4")));
    assert_eq!(p.clips[0].file_name(), "chunk_1_c1.mp4");
    assert_eq!(p.clips[1].file_name(), "chunk_1_c1.mp4");
    assert_eq!((p.clips[0].length(), p.clips[1].length()), (Some(50.0), Some(50.0)));

    // The flow JSON: two clips on one file, the second skipping the cut part.
    let flow = p.to_flow_json(|c| c.file_name());
    let f = crate::mtslink::flow::parse(&serde_json::to_vec(&flow).unwrap(), Path::new("/job")).unwrap();
    let got: Vec<(&Path, i64, i64, Option<i64>)> =
        f.clips.iter().map(|c| (c.path.as_path(), c.start.0, c.offset.0, c.max_len.map(|l| l.0))).collect();
    let job = Path::new("/job/chunk_1_c1.mp4");
    assert_eq!(got, [(job, 50 * 90_000, 0, Some(50 * 90_000)), (job, 100 * 90_000, 150 * 90_000, Some(50 * 90_000))]);
    flow_in_code_is_the_flow_json(&p);

    // The manifest keeps the parts.
    let back: Plan = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn chunk_across_two_cuts_is_split_in_three() {
    // Recorded W 50..450; cuts W 100..200 and 300..350 (T 100 and T 200).
    let cuts = [(100.0, 200.0), (300.0, 350.0)];
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 50.0, Some(400.0)))).unwrap();
    assert_eq!(
        parts(&p),
        [
            ("1", 50.0, 0.0, Some(100.0), None),
            ("1#2", 100.0, 150.0, Some(200.0), Some("1")),
            ("1#3", 200.0, 300.0, Some(300.0), Some("1")),
        ],
        "{:#?}",
        p.clips
    );
    assert_eq!(p.cuts.iter().map(|c| c.at).collect::<Vec<_>>(), [Some(100.0), Some(200.0)]);
}

#[test]
fn chunk_ending_inside_a_cut_is_shortened() {
    // Recorded W 50..150, cut W 100..200: only T 50..100 remains, one clip.
    let cuts = [(100.0, 200.0)];
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 50.0, Some(100.0)))).unwrap();
    assert_eq!(parts(&p), [("1", 50.0, 0.0, Some(100.0), None)]);
    // A chunk ending exactly where the cut starts is not touched.
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 50.0, Some(50.0)))).unwrap();
    assert_eq!(parts(&p), [("1", 50.0, 0.0, Some(100.0), None)]);
    assert_eq!(p.clips[0].end, None);
}

#[test]
fn chunk_starting_inside_a_cut_is_only_skipped() {
    // Recorded W 150..250, cut W 100..200: at the cut point (T 100), its first 50 s skipped.
    let cuts = [(100.0, 200.0)];
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 150.0, Some(100.0)))).unwrap();
    assert_eq!(parts(&p), [("1", 100.0, 50.0, Some(150.0), None)]);
    assert_eq!(p.clips[0].end, None);
    // Starting inside one cut and recorded across the next: skipped, then split.
    let cuts = [(100.0, 200.0), (300.0, 350.0)];
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 150.0, Some(250.0)))).unwrap();
    assert_eq!(
        parts(&p),
        [("1", 100.0, 50.0, Some(200.0), None), ("1#2", 200.0, 200.0, Some(250.0), Some("1"))],
        "{:#?}",
        p.clips
    );
}

#[test]
fn chunk_placed_by_relative_time_is_not_split() {
    // The chunk's epoch says W 50 (T 50), its relativeTime 20: they disagree, relativeTime
    // wins and the epoch is not trusted to find the cut inside the chunk.
    let cuts = [(100.0, 200.0)];
    let mut data = cam(1, 10, 1, "L");
    data["time"] = json!(B + 50.0);
    let evs = vec![
        json!({"module": "mediasession.add", "time": B + 20.0, "relativeTime": 20.0, "data": data}),
        ev_at(&cuts, "mediasession.update", 250.0, json!({"id": 1, "duration": 200.0})),
    ];
    let p = build_plan(&cut_record(&cuts, evs)).unwrap();
    assert_eq!(parts(&p), [("1", 20.0, 0.0, Some(220.0), None)]);
}

#[test]
fn end_events_bound_the_last_part() {
    let cuts = [(100.0, 200.0)];
    let stream_delete = |w: f64| ev_at(&cuts, "conference.stream.delete", w, json!({"id": 10}));
    // Recorded W 50..450, its stream deleted at W 220 (T 120): the second part ends there.
    let mut evs = chunk_at(&cuts, 1, 50.0, Some(400.0));
    evs.push(stream_delete(220.0));
    let p = build_plan(&cut_record(&cuts, evs)).unwrap();
    assert_eq!(
        parts(&p),
        [("1", 50.0, 0.0, Some(100.0), None), ("1#2", 100.0, 150.0, Some(120.0), Some("1"))],
        "{:#?}",
        p.clips
    );
    // Deleted inside the cut (lands at T 100): nothing after the cut.
    let mut evs = chunk_at(&cuts, 1, 50.0, Some(400.0));
    evs.push(stream_delete(150.0));
    let p = build_plan(&cut_record(&cuts, evs)).unwrap();
    assert_eq!(parts(&p), [("1", 50.0, 0.0, Some(100.0), None)]);
    // Unknown duration, no end: the extent is unknown, so the cut is removed anyway.
    let p = build_plan(&cut_record(&cuts, chunk_at(&cuts, 1, 50.0, None))).unwrap();
    assert_eq!(parts(&p), [("1", 50.0, 0.0, Some(100.0), None), ("1#2", 100.0, 150.0, None, Some("1"))]);
    // Unknown duration, ended at W 90 before the cut: untouched.
    let mut evs = chunk_at(&cuts, 1, 50.0, None);
    evs.push(stream_delete(90.0));
    let p = build_plan(&cut_record(&cuts, evs)).unwrap();
    assert_eq!(parts(&p), [("1", 50.0, 0.0, Some(90.0), None)]);
}

#[test]
fn a_chunk_is_over_when_its_cut_shortened_length_is() {
    // Audio-only chunk recorded W 50..250 across the cut W 100..200: on the timeline it ends
    // at T 150, so the camera coming on at W 260 (T 160) does not upgrade it.
    let cuts = [(100.0, 200.0)];
    let mut evs = vec![ev_at(&cuts, "conference.add", 1.0, json!({"id": 10, "hasVideo": false, "hasAudio": true}))];
    evs.extend(chunk_at(&cuts, 1, 50.0, Some(200.0)));
    evs.push(ev_at(&cuts, "conference.update", 260.0, json!({"id": 10, "hasVideo": true})));
    let p = build_plan(&cut_record(&cuts, evs)).unwrap();
    assert_eq!(p.clips.len(), 2);
    assert!(p.clips.iter().all(|c| c.kind == SourceKind::AudioOnly && c.has_video == Some(false)), "{:#?}", p.clips);
}

#[test]
fn part_ids_stay_unique() {
    // Another clip already has the id "1#2".
    let cuts = [(100.0, 200.0)];
    let mut evs = chunk_at(&cuts, 1, 50.0, Some(200.0));
    let mut other = cam(9, 11, 2, "M");
    other["id"] = json!("1#2");
    other["time"] = json!(B + 300.0);
    evs.push(ev_at(&cuts, "mediasession.add", 300.0, other));
    let p = build_plan(&cut_record(&cuts, evs)).unwrap();
    let ids: Vec<&str> = p.clips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["1", "1#2#", "1#2"]);
    assert_eq!(p.clips[1].file_name(), "chunk_1_c1.mp4");
    assert_eq!(p.clips[2].file_name(), "chunk_1_2_c9.mp4");
}
