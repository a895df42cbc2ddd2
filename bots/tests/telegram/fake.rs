//! A fake Telegram Bot API on 127.0.0.1 (an ephemeral port): serves
//! scripted getUpdates, answers every other method with a plausible result,
//! records each call (JSON or multipart, uploads included), and can fail the
//! next calls of a method with a scripted error (e.g. a 429) or cut the
//! connection mid-answer (a network blip). Files users sent ([`serve_file`](FakeTelegram::serve_file))
//! are described by getFile and downloaded from `/file/bot<token>/<path>`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

pub const BOT_ID: i64 = 4242;
pub const BOT_USERNAME: &str = "reel_test_bot";
/// getUpdates holds an empty answer this long (a short long-poll).
const HOLD: Duration = Duration::from_millis(100);

/// One recorded Bot API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// Uploaded files: (field, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    pub at: Instant,
}

impl Call {
    pub fn str(&self, key: &str) -> &str {
        self.params.get(key).and_then(Value::as_str).unwrap_or("")
    }

    pub fn int(&self, key: &str) -> i64 {
        match self.params.get(key) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// Callback data of every inline button in `reply_markup`.
    pub fn buttons(&self) -> Vec<String> {
        let markup = match self.params.get("reply_markup") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let rows = markup["inline_keyboard"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        rows.iter()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    /// Files users sent, by file id.
    files: HashMap<String, Vec<u8>>,
    /// Paths downloaded from `/file/…`, in order.
    downloads: Vec<String>,
}

/// How a scripted call fails.
enum Failure {
    /// This HTTP status and JSON body.
    Answer(u16, Value),
    /// The status line goes out, then the connection breaks mid-body: the
    /// client sees a network error. (Not a 5xx: teloxide sleeps 10 s on
    /// every server error before reading it.)
    Cut,
}

#[derive(Default)]
struct Shared {
    inner: Mutex<Inner>,
    new_update: Notify,
}

pub struct FakeTelegram {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .route("/file/{bot}/{*path}", get(download))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            shared,
            server,
        }
    }

    /// Queues an update (`{"message": …}` or `{"callback_query": …}`).
    pub fn push(&self, update: Value) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.next_update_id += 1;
        let mut update = update;
        update["update_id"] = json!(inner.next_update_id);
        inner.updates.push_back(update);
        drop(inner);
        self.shared.new_update.notify_waiters();
    }

    /// A file a user sent, which getFile describes and `/file/…` serves.
    pub fn serve_file(&self, file_id: &str, data: &[u8]) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.files.insert(file_id.into(), data.to_vec());
    }

    /// The file paths downloaded so far.
    pub fn downloads(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().downloads.clone()
    }

    /// The next call of `method` gets this HTTP status and body.
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner
            .failures
            .entry(method.into())
            .or_default()
            .push_back(Failure::Answer(status, body));
    }

    /// The next call of `method` gets a broken connection (a network blip).
    pub fn cut_next(&self, method: &str) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner
            .failures
            .entry(method.into())
            .or_default()
            .push_back(Failure::Cut);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits until `method` has been called `n` times; returns those calls.
    pub async fn wait_for(&self, method: &str, n: usize) -> Vec<Call> {
        self.wait_for_within(method, n, Duration::from_secs(10))
            .await
    }

    /// [`wait_for`](Self::wait_for), failing after `limit`.
    pub async fn wait_for_within(&self, method: &str, n: usize, limit: Duration) -> Vec<Call> {
        let started = Instant::now();
        loop {
            let calls = self.calls_to(method);
            if calls.len() >= n {
                return calls;
            }
            assert!(
                started.elapsed() < limit,
                "timed out waiting for {n} × {method}; calls so far: {:?}",
                self.calls()
                    .iter()
                    .map(|c| c.method.as_str())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((_bot, method)): Path<(String, String)>,
    req: Request,
) -> Response {
    // teloxide writes `GetMe`; Telegram's method names are case-insensitive.
    let method = lower_first(&method);
    let (params, files) = read_params(req).await;
    let call = Call {
        method: method.clone(),
        params: params.clone(),
        files,
        at: Instant::now(),
    };
    let failure = {
        let mut inner = shared.inner.lock().unwrap();
        inner.calls.push(call);
        inner
            .failures
            .get_mut(&method)
            .and_then(VecDeque::pop_front)
    };
    match failure {
        Some(Failure::Answer(status, body)) => {
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                Json(body),
            )
                .into_response();
        }
        Some(Failure::Cut) => {
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::other("connection cut"))
            });
            return axum::body::Body::from_stream(broken).into_response();
        }
        None => {}
    }
    let result = match method.as_str() {
        "getUpdates" => get_updates(&shared, &params).await,
        _ => answer(&shared, &method, &params),
    };
    Json(json!({ "ok": true, "result": result })).into_response()
}

/// `GET /file/bot<token>/<path>`: a file served by [`FakeTelegram::serve_file`].
async fn download(
    State(shared): State<Arc<Shared>>,
    Path((_bot, path)): Path<(String, String)>,
) -> Response {
    let mut inner = shared.inner.lock().unwrap();
    inner.downloads.push(path.clone());
    let file_id = path.trim_start_matches("videos/");
    match inner.files.get(file_id) {
        Some(data) => data.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

async fn read_params(req: Request) -> (Value, Vec<(String, Vec<u8>)>) {
    let multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    if !multipart {
        let body = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        return (
            serde_json::from_slice(&body).unwrap_or_else(|_| json!({})),
            Vec::new(),
        );
    }
    let mut params = serde_json::Map::new();
    let mut files = Vec::new();
    let Ok(mut form) = Multipart::from_request(req, &()).await else {
        return (json!({}), files);
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.file_name().is_some();
        let bytes = field.bytes().await.unwrap_or_default().to_vec();
        if is_file {
            files.push((name, bytes));
        } else {
            params.insert(
                name,
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            );
        }
    }
    (Value::Object(params), files)
}

async fn get_updates(shared: &Shared, params: &Value) -> Value {
    let offset = params["offset"].as_i64().unwrap_or(0);
    let deadline = Instant::now() + HOLD;
    loop {
        let notified = shared.new_update.notified();
        {
            let mut inner = shared.inner.lock().unwrap();
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            if !inner.updates.is_empty() {
                let limit = params["limit"].as_u64().unwrap_or(100) as usize;
                return Value::Array(inner.updates.iter().take(limit).cloned().collect());
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
            return json!([]);
        }
    }
}

fn answer(shared: &Shared, method: &str, params: &Value) -> Value {
    match method {
        "getMe" => json!({
            "id": BOT_ID, "is_bot": true, "first_name": "reel", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        }),
        "getWebhookInfo" => {
            json!({ "url": "", "has_custom_certificate": false, "pending_update_count": 0 })
        }
        "getFile" => {
            let id = params["file_id"].as_str().unwrap_or("");
            let size = shared
                .inner
                .lock()
                .unwrap()
                .files
                .get(id)
                .map_or(0, Vec::len);
            json!({
                "file_id": id, "file_unique_id": format!("u-{id}"),
                "file_size": size, "file_path": format!("videos/{id}")
            })
        }
        "sendMessage" | "editMessageText" => {
            let id = message_id_for(shared, method, params);
            message(id, chat_id(params), json!({ "text": params["text"] }))
        }
        "sendVideo" => {
            let id = message_id_for(shared, method, params);
            let video = json!({
                "file_id": format!("video-file-{id}"), "file_unique_id": format!("u{id}"),
                "width": 64, "height": 64, "duration": 1, "mime_type": "video/mp4", "file_size": 4096
            });
            message(
                id,
                chat_id(params),
                json!({ "video": video, "caption": params["caption"] }),
            )
        }
        "sendDocument" => {
            let id = message_id_for(shared, method, params);
            let document = json!({
                "file_id": format!("document-file-{id}"), "file_unique_id": format!("d{id}"),
                "file_name": "clip.mp4", "mime_type": "video/mp4", "file_size": 4096
            });
            message(
                id,
                chat_id(params),
                json!({ "document": document, "caption": params["caption"] }),
            )
        }
        _ => json!(true),
    }
}

fn message_id_for(shared: &Shared, method: &str, params: &Value) -> i64 {
    if method == "editMessageText" {
        return params["message_id"].as_i64().unwrap_or(0);
    }
    let mut inner = shared.inner.lock().unwrap();
    inner.next_message_id += 1;
    1000 + inner.next_message_id
}

fn chat_id(params: &Value) -> i64 {
    match &params["chat_id"] {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

pub fn chat(id: i64) -> Value {
    if id > 0 {
        json!({ "id": id, "type": "private", "first_name": "Tester" })
    } else {
        json!({ "id": id, "type": "group", "title": "Test group" })
    }
}

fn message(id: i64, chat_id: i64, extra: Value) -> Value {
    let mut msg = json!({
        "message_id": id, "date": 1_800_000_000, "chat": chat(chat_id),
        "from": { "id": BOT_ID, "is_bot": true, "first_name": "reel", "username": BOT_USERNAME }
    });
    if let (Some(msg), Some(extra)) = (msg.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if !v.is_null() {
                msg.insert(k.clone(), v.clone());
            }
        }
    }
    msg
}

/// A user's message in `chat` (positive: a private chat; negative: a group).
pub fn user_message(message_id: i64, user: i64, chat_id: i64, content: Value) -> Value {
    let mut msg = json!({
        "message_id": message_id, "date": 1_800_000_000, "chat": chat(chat_id),
        "from": { "id": user, "is_bot": false, "first_name": "Ann" }
    });
    if let (Some(msg), Some(content)) = (msg.as_object_mut(), content.as_object()) {
        msg.extend(content.clone());
    }
    json!({ "message": msg })
}

pub fn text_update(message_id: i64, user: i64, chat_id: i64, text: &str) -> Value {
    let mut content = json!({ "text": text });
    if let Some(word) = text
        .strip_prefix('/')
        .map(|t| t.split_whitespace().next().unwrap_or(""))
    {
        content["entities"] =
            json!([{ "type": "bot_command", "offset": 0, "length": word.len() + 1 }]);
    }
    user_message(message_id, user, chat_id, content)
}

/// A press of a button with `data` under the bot's message `message_id`.
pub fn callback(id: &str, user: i64, chat_id: i64, message_id: i64, data: &str) -> Value {
    json!({ "callback_query": {
        "id": id, "chat_instance": "ci", "data": data,
        "from": { "id": user, "is_bot": false, "first_name": "Ann" },
        "message": message(message_id, chat_id, json!({ "text": "a message of the bot" }))
    }})
}

/// A video note of `bytes` bytes (file `file_id`) from `user` in their
/// private chat; `forwarded`: forwarded from another chat.
pub fn video_note_update(
    message_id: i64,
    user: i64,
    file_id: &str,
    bytes: usize,
    forwarded: bool,
) -> Value {
    let mut content = json!({ "video_note": {
        "file_id": file_id, "file_unique_id": format!("u-{file_id}"),
        "length": 240, "duration": 5, "file_size": bytes
    }});
    if forwarded {
        content["forward_origin"] =
            json!({ "type": "hidden_user", "sender_user_name": "Someone", "date": 1_799_999_000 });
    }
    user_message(message_id, user, user, content)
}

/// A video (not a note) of `bytes` bytes from `user` in their private chat.
pub fn video_update(message_id: i64, user: i64, file_id: &str, bytes: usize) -> Value {
    let content = json!({ "video": {
        "file_id": file_id, "file_unique_id": format!("u-{file_id}"),
        "width": 640, "height": 480, "duration": 5, "mime_type": "video/mp4", "file_size": bytes
    }});
    user_message(message_id, user, user, content)
}

/// A photo with `caption` from `user` in chat `chat_id`: Telegram's sizes
/// of it as `(file_id, declared bytes)`, smallest first.
pub fn photo_update(
    message_id: i64,
    user: i64,
    chat_id: i64,
    caption: &str,
    sizes: &[(&str, usize)],
) -> Value {
    let sizes: Vec<Value> = sizes
        .iter()
        .enumerate()
        .map(|(i, (id, bytes))| {
            json!({ "file_id": id, "file_unique_id": format!("u-{id}"),
                    "width": 90 * (i + 1), "height": 60 * (i + 1), "file_size": bytes })
        })
        .collect();
    user_message(
        message_id,
        user,
        chat_id,
        json!({ "photo": sizes, "caption": caption }),
    )
}

/// An image sent as a file (a document of MIME type `mime`).
pub fn image_document_update(
    message_id: i64,
    user: i64,
    caption: &str,
    file_id: &str,
    mime: &str,
    bytes: usize,
) -> Value {
    let document = json!({ "file_id": file_id, "file_unique_id": format!("u-{file_id}"),
                           "file_name": "picture", "mime_type": mime, "file_size": bytes });
    user_message(
        message_id,
        user,
        user,
        json!({ "document": document, "caption": caption }),
    )
}
