//! Clip storage on an S3-compatible store: `reel chat` with `clips.backend =
//! "s3"` against a fake S3 on 127.0.0.1 that keeps objects in memory.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{text, Sandbox};

#[derive(Clone, Default)]
struct FakeS3 {
    objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<Mutex<Vec<(Method, String)>>>,
}

/// Path-style S3: PUT, GET, HEAD and DELETE of `/<bucket>/<key>`; auth is not checked.
async fn handle(fake: FakeS3, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    fake.requests
        .lock()
        .unwrap()
        .push((method.clone(), path.clone()));
    let mut objects = fake.objects.lock().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("etag", "\"0123456789abcdef\"".parse().unwrap());
    headers.insert(
        "last-modified",
        "Wed, 25 Nov 2026 18:00:00 GMT".parse().unwrap(),
    );
    match method {
        Method::PUT => {
            objects.insert(path, body.to_vec());
            (StatusCode::OK, headers).into_response()
        }
        Method::GET | Method::HEAD => match objects.get(&path) {
            Some(data) => {
                headers.insert("content-length", data.len().into());
                let body = if method == Method::GET {
                    data.clone()
                } else {
                    Vec::new()
                };
                (StatusCode::OK, headers, body).into_response()
            }
            None => (
                StatusCode::NOT_FOUND,
                "<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>",
            )
                .into_response(),
        },
        Method::DELETE => {
            objects.remove(&path);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clips_go_to_an_s3_compatible_store() {
    let fake = FakeS3::default();
    let app = {
        let fake = fake.clone();
        axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            handle(fake.clone(), method, uri, body)
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let sb = Sandbox::sqlite();
    let mut cmd = sb.reel(&["chat", "--user", "kim"]);
    cmd.envs([
        ("REEL_CLIPS__BACKEND", "s3"),
        ("REEL_CLIPS__S3_BUCKET", "reel-clips"),
        ("REEL_CLIPS__S3_REGION", "us-east-1"),
        ("REEL_CLIPS__S3_ENDPOINT", endpoint.as_str()),
        ("REEL_CLIPS__S3_ALLOW_HTTP", "true"),
        ("REEL_RENDER__WIDTH", "128"),
        ("REEL_RENDER__HEIGHT", "96"),
        ("AWS_ACCESS_KEY_ID", "test-key-id"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/video a kite over the sea duration:1\n")
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("reel chat finished within a minute")
    .unwrap()
    .unwrap();
    server.abort();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));

    let objects = fake.objects.lock().unwrap().clone();
    assert_eq!(objects.len(), 1, "one clip stored: {:?}", objects.keys());
    let (path, data) = objects.into_iter().next().unwrap();
    let key = path
        .strip_prefix("/reel-clips/")
        .expect("in the configured bucket");
    let nonce = key
        .strip_prefix("clips/1/")
        .and_then(|k| k.strip_suffix(".mp4"))
        .unwrap();
    assert!(
        nonce.len() == 16 && nonce.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );
    assert!(
        stdout.contains(&format!("clip written to clip storage as {key}")),
        "{stdout}"
    );
    let requests = fake.requests.lock().unwrap().clone();
    assert!(
        requests.contains(&(Method::GET, path.clone())),
        "the poster fetched the clip: {requests:?}"
    );

    let file = sb.path().join("from-s3.mp4");
    std::fs::write(&file, &data).unwrap();
    let info = reel_media::probe(&file).unwrap();
    assert_eq!(
        (
            info.video_codec.as_str(),
            info.width,
            info.height,
            info.frames
        ),
        ("h264", 128, 96, 24)
    );
    assert!(
        !sb.clips_dir().exists(),
        "nothing written to the local clip folder"
    );
}
