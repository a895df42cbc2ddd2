//! A fake Discord on 127.0.0.1 for the real serenity client: the REST API
//! (reached through serenity's proxy setting) and a plain `ws://` gateway
//! announced by `GET /api/v10/gateway`. The gateway speaks HELLO,
//! IDENTIFY → READY, heartbeat ACKs, RESUME → RESUMED and dispatches the
//! interactions a test pushes. Every REST request is recorded (method,
//! path, JSON body or `payload_json`, uploaded files); a token can be
//! expired (401 on its webhook endpoints) and the next matching request can
//! be failed with a scripted status.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const APP_ID: u64 = 424_242;
pub const TOKEN: &str = "FAKE.DISCORD.TOKEN";
/// How often the fake asks for heartbeats (ms): often enough that tests
/// see some, and ACK them.
const HEARTBEAT_MS: u64 = 1000;

/// One recorded REST request.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Without the `/api/v10` prefix, e.g. `/interactions/7/tok/callback`.
    pub path: String,
    /// The JSON body, or the multipart `payload_json`.
    pub body: Value,
    /// Uploaded files: (form field, file name, bytes).
    pub files: Vec<(String, String, Vec<u8>)>,
    pub at: Instant,
    /// The status the fake answered with.
    pub status: u16,
}

impl Call {
    pub fn is(&self, method: &str, path_prefix: &str) -> bool {
        self.method == method && self.path.starts_with(path_prefix)
    }

    pub fn content(&self) -> &str {
        self.body["content"].as_str().unwrap_or("")
    }

    pub fn flags(&self) -> u64 {
        self.body["data"]["flags"]
            .as_u64()
            .or_else(|| self.body["flags"].as_u64())
            .unwrap_or(0)
    }

    /// The `custom_id` of every button in the body's components.
    pub fn buttons(&self) -> Vec<String> {
        let rows = self.body["components"]
            .as_array()
            .or_else(|| self.body["data"]["components"].as_array())
            .cloned()
            .unwrap_or_default();
        rows.iter()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .filter_map(|b| b["custom_id"].as_str().map(str::to_string))
            .collect()
    }
}

/// What a gateway client sent (op codes 1, 2, 6 …).
#[derive(Debug, Clone)]
pub struct GatewayOp {
    pub op: u64,
    pub d: Value,
    pub at: Instant,
}

enum Outgoing {
    Dispatch {
        event: String,
        data: Value,
    },
    /// Close the connection as Discord does when it drops a session's
    /// socket (code 4000: resumable).
    Close,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    next_id: u64,
    /// The original response's message id, per interaction token.
    originals: HashMap<String, u64>,
    /// Interactions whose callback came (a second one is refused).
    acknowledged: HashSet<String>,
    /// The channel of each interaction, by token (webhook messages are there).
    channels: HashMap<String, u64>,
    expired_tokens: HashSet<String>,
    /// (method, path prefix) → scripted answers.
    failures: Vec<(String, String, u16, Value)>,
    /// (method, path prefix) → how long to hold the next such request.
    delays: Vec<(String, String, Duration)>,
    gateway_ops: Vec<GatewayOp>,
    connection: Option<mpsc::UnboundedSender<Outgoing>>,
    pending: VecDeque<Outgoing>,
    connections: usize,
    session: Option<String>,
    seq: u64,
    /// When each INTERACTION_CREATE (by interaction id) went out.
    dispatched: HashMap<String, Instant>,
    /// Files users attached, served at `/attachments/<name>`.
    attachments: HashMap<String, Vec<u8>>,
}

struct Shared {
    inner: Mutex<Inner>,
    gateway_url: String,
}

pub struct FakeDiscord {
    /// The REST base to give serenity's proxy setting.
    pub api: String,
    pub gateway_url: String,
    shared: Arc<Shared>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

impl FakeDiscord {
    pub async fn start() -> Self {
        let rest = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let api = format!("http://{}", rest.local_addr().expect("local addr"));
        let gateway_url = format!("ws://{}", gateway.local_addr().expect("local addr"));
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                next_id: 9000,
                ..Inner::default()
            }),
            gateway_url: gateway_url.clone(),
        });
        let app = Router::new().fallback(rest_call).with_state(shared.clone());
        let rest_server = tokio::spawn(async move {
            let _ = axum::serve(rest, app).await;
        });
        let gateway_server = tokio::spawn(accept_gateway(gateway, shared.clone()));
        Self {
            api,
            gateway_url,
            shared,
            servers: vec![rest_server, gateway_server],
        }
    }

    /// A file a user attached; returns its URL (on this fake's REST server).
    pub fn serve_attachment(&self, name: &str, data: &[u8]) -> String {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.attachments.insert(name.into(), data.to_vec());
        format!("{}/attachments/{name}", self.api)
    }

    /// Sends INTERACTION_CREATE (now, or once a session is up).
    pub fn interaction(&self, interaction: Value) {
        let token = interaction["token"].as_str().unwrap_or("").to_string();
        let channel = interaction["channel_id"]
            .as_str()
            .and_then(|c| c.parse().ok());
        self.shared
            .inner
            .lock()
            .unwrap()
            .channels
            .insert(token, channel.unwrap_or(1));
        self.send(Outgoing::Dispatch {
            event: "INTERACTION_CREATE".into(),
            data: interaction,
        });
    }

    /// Closes the gateway connection (resumable, code 4000).
    pub fn disconnect(&self) {
        self.send(Outgoing::Close);
    }

    fn send(&self, out: Outgoing) {
        let mut inner = self.shared.inner.lock().unwrap();
        let out = match &inner.connection {
            Some(tx) => match tx.send(out) {
                Ok(()) => return,
                Err(mpsc::error::SendError(out)) => out,
            },
            None => out,
        };
        inner.pending.push_back(out);
    }

    /// Every webhook request with this token gets 401 Invalid Webhook Token,
    /// as after the 15 minutes an interaction token lasts.
    pub fn expire_token(&self, token: &str) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .expired_tokens
            .insert(token.into());
    }

    /// The next request of `method` whose path starts with `path_prefix`
    /// gets `status` and `body`.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, body: Value) {
        self.shared.inner.lock().unwrap().failures.push((
            method.into(),
            path_prefix.into(),
            status,
            body,
        ));
    }

    /// The next request of `method` whose path starts with `path_prefix`
    /// is answered only after `delay` (a slow Discord).
    pub fn delay_next(&self, method: &str, path_prefix: &str, delay: Duration) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .delays
            .push((method.into(), path_prefix.into(), delay));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str, path_prefix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.is(method, path_prefix))
            .collect()
    }

    /// The callback (first response) of interaction `id`, if it came.
    pub fn callback(&self, id: u64) -> Option<Call> {
        let path = format!("/interactions/{id}/");
        self.calls()
            .into_iter()
            .find(|c| c.method == "POST" && c.path.starts_with(&path))
    }

    /// When INTERACTION_CREATE `id` was written to the gateway socket.
    pub fn dispatched_at(&self, id: u64) -> Option<Instant> {
        self.shared
            .inner
            .lock()
            .unwrap()
            .dispatched
            .get(&id.to_string())
            .copied()
    }

    pub fn gateway_ops(&self, op: u64) -> Vec<GatewayOp> {
        self.shared
            .inner
            .lock()
            .unwrap()
            .gateway_ops
            .iter()
            .filter(|o| o.op == op)
            .cloned()
            .collect()
    }

    pub fn connections(&self) -> usize {
        self.shared.inner.lock().unwrap().connections
    }

    /// Waits (10 s at most) until `n` requests match; returns them.
    pub async fn wait_for(&self, method: &str, path_prefix: &str, n: usize) -> Vec<Call> {
        self.wait_until(&format!("{n} × {method} {path_prefix}"), || {
            let calls = self.calls_to(method, path_prefix);
            (calls.len() >= n).then_some(calls)
        })
        .await
    }

    /// Waits for interaction `id`'s callback.
    pub async fn wait_for_callback(&self, id: u64) -> Call {
        self.wait_until(&format!("the callback of interaction {id}"), || {
            self.callback(id)
        })
        .await
    }

    /// Waits until `op` has come `n` times from the gateway client.
    pub async fn wait_for_op(&self, op: u64, n: usize) -> Vec<GatewayOp> {
        self.wait_until(&format!("{n} × gateway op {op}"), || {
            let ops = self.gateway_ops(op);
            (ops.len() >= n).then_some(ops)
        })
        .await
    }

    /// Polls `check` until it returns something; fails after 10 s.
    pub async fn wait_until<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = check() {
                return found;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let seen: Vec<String> = self
                    .calls()
                    .iter()
                    .map(|c| format!("{} {} {}", c.method, c.path, c.status))
                    .collect();
                panic!("timed out waiting for {what}; requests so far: {seen:#?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

// ---------------------------------------------------------------- REST

async fn rest_call(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let full = req.uri().path().to_string();
    let path = full.strip_prefix("/api/v10").unwrap_or(&full).to_string();
    if let Some(name) = path.strip_prefix("/attachments/") {
        let mut inner = shared.inner.lock().unwrap();
        let data = inner.attachments.get(name).cloned();
        inner.calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            body: Value::Null,
            files: Vec::new(),
            at: Instant::now(),
            status: if data.is_some() { 200 } else { 404 },
        });
        return match data {
            Some(data) => data.into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    let (body, files) = read_body(req).await;
    let delay = {
        let mut inner = shared.inner.lock().unwrap();
        let index = inner
            .delays
            .iter()
            .position(|(m, p, _)| m == method.as_str() && path.starts_with(p.as_str()));
        index.map(|i| inner.delays.remove(i).2)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let (status, answer) = answer(&shared, &method, &path, &body);
    let mut inner = shared.inner.lock().unwrap();
    inner.calls.push(Call {
        method: method.to_string(),
        path,
        body,
        files,
        at: Instant::now(),
        status,
    });
    drop(inner);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match answer {
        Some(value) => (code, Json(value)).into_response(),
        None => code.into_response(),
    }
}

fn answer(shared: &Shared, method: &Method, path: &str, body: &Value) -> (u16, Option<Value>) {
    let mut inner = shared.inner.lock().unwrap();
    let scripted = inner
        .failures
        .iter()
        .position(|(m, p, ..)| m == method.as_str() && path.starts_with(p.as_str()));
    if let Some(index) = scripted {
        let (_, _, status, body) = inner.failures.remove(index);
        return (status, Some(body));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => (200, Some(json!({ "url": shared.gateway_url }))),
        ("GET", ["gateway", "bot"]) => (
            200,
            Some(json!({
                "url": shared.gateway_url, "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 }
            })),
        ),
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => (200, Some(json!([]))),
        ("POST", ["interactions", id, _, "callback"]) => {
            if inner.acknowledged.insert(id.to_string()) {
                (204, None)
            } else {
                let message = "Interaction has already been acknowledged.";
                (400, Some(json!({ "code": 40060, "message": message })))
            }
        }
        (_, ["webhooks", _, token, ..]) if inner.expired_tokens.contains(*token) => (
            401,
            Some(json!({ "code": 50027, "message": "Invalid Webhook Token" })),
        ),
        ("PATCH", ["webhooks", _, token, "messages", which]) => {
            let id = match *which {
                "@original" => original_id(&mut inner, token),
                other => other.parse().unwrap_or(0),
            };
            let channel = inner.channels.get(*token).copied().unwrap_or(1);
            (200, Some(message(id, channel, body, true)))
        }
        ("DELETE", ["webhooks", _, _, "messages", _]) => (204, None),
        ("POST", ["webhooks", _, token]) => {
            inner.next_id += 1;
            let id = inner.next_id;
            let channel = inner.channels.get(*token).copied().unwrap_or(1);
            (200, Some(message(id, channel, body, true)))
        }
        // A direct-message channel with the recipient: its id is theirs
        // with a 9 in front, so tests can tell where a DM went.
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"].as_str().unwrap_or("0").to_string();
            let user = json!({ "id": recipient, "username": "owner", "discriminator": "0000", "avatar": null });
            (
                200,
                Some(
                    json!({ "id": format!("9{recipient}"), "type": 1, "recipients": [user], "last_message_id": null }),
                ),
            )
        }
        ("POST", ["channels", channel, "messages"]) => {
            inner.next_id += 1;
            let id = inner.next_id;
            (
                200,
                Some(message(id, channel.parse().unwrap_or(0), body, false)),
            )
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            let id = id.parse().unwrap_or(0);
            (
                200,
                Some(message(id, channel.parse().unwrap_or(0), body, false)),
            )
        }
        _ => (
            404,
            Some(json!({ "code": 0, "message": format!("{method} {path} is not in the fake") })),
        ),
    }
}

fn original_id(inner: &mut Inner, token: &str) -> u64 {
    if let Some(id) = inner.originals.get(token) {
        return *id;
    }
    inner.next_id += 1;
    let id = inner.next_id;
    inner.originals.insert(token.into(), id);
    id
}

/// A message object as Discord returns it (what serenity needs to decode).
fn message(id: u64, channel: u64, body: &Value, via_webhook: bool) -> Value {
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": bot_user(),
        "content": body["content"].as_str().unwrap_or(""),
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": body["flags"].as_u64().unwrap_or(0),
    });
    if via_webhook {
        message["webhook_id"] = json!(APP_ID.to_string());
    }
    message
}

fn bot_user() -> Value {
    json!({
        "id": APP_ID.to_string(), "username": "reel", "discriminator": "0",
        "global_name": null, "avatar": null, "bot": true
    })
}

async fn read_body(req: Request) -> (Value, Vec<(String, String, Vec<u8>)>) {
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
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            Vec::new(),
        );
    }
    let mut payload = Value::Null;
    let mut files = Vec::new();
    let Ok(mut form) = Multipart::from_request(req, &()).await else {
        return (payload, files);
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.unwrap_or_default().to_vec();
        match file_name {
            Some(file_name) => files.push((name, file_name, bytes)),
            None if name == "payload_json" => {
                payload = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            }
            None => {}
        }
    }
    (payload, files)
}

// ------------------------------------------------------------- gateway

async fn accept_gateway(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_connection(stream, shared.clone()));
    }
}

fn frame(value: &Value) -> WsMessage {
    WsMessage::Text(value.to_string())
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    shared.inner.lock().unwrap().connections += 1;
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": HEARTBEAT_MS } });
    if ws.send(frame(&hello)).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let Some(Ok(WsMessage::Text(text))) = incoming else {
                    match incoming {
                        Some(Ok(_)) => continue,
                        _ => break,
                    }
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                let op = payload["op"].as_u64().unwrap_or(u64::MAX);
                shared.inner.lock().unwrap().gateway_ops.push(GatewayOp {
                    op,
                    d: payload["d"].clone(),
                    at: Instant::now(),
                });
                let reply = match op {
                    1 => Some(json!({ "op": 11 })),
                    2 => Some(ready(&shared)),
                    6 => Some(resumed(&shared)),
                    _ => None,
                };
                let Some(reply) = reply else { continue };
                if ws.send(frame(&reply)).await.is_err() {
                    break;
                }
                if matches!(op, 2 | 6) {
                    // The session is up: events flow to this connection.
                    let mut inner = shared.inner.lock().unwrap();
                    for out in inner.pending.drain(..) {
                        let _ = tx.send(out);
                    }
                    inner.connection = Some(tx.clone());
                }
            }
            Some(out) = rx.recv() => match out {
                Outgoing::Dispatch { event, data } => {
                    let payload = {
                        let mut inner = shared.inner.lock().unwrap();
                        inner.seq += 1;
                        if event == "INTERACTION_CREATE" {
                            let id = data["id"].as_str().unwrap_or("").to_string();
                            inner.dispatched.insert(id, Instant::now());
                        }
                        json!({ "op": 0, "s": inner.seq, "t": event, "d": data })
                    };
                    if ws.send(frame(&payload)).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close => {
                    shared.inner.lock().unwrap().connection = None;
                    let close = CloseFrame { code: CloseCode::Library(4000), reason: "fake disconnect".into() };
                    let _ = ws.close(Some(close)).await;
                    break;
                }
            },
        }
    }
    // Events sent meanwhile wait for the next session.
    let mut inner = shared.inner.lock().unwrap();
    if inner
        .connection
        .as_ref()
        .is_some_and(|c| c.same_channel(&tx))
    {
        inner.connection = None;
    }
    while let Ok(out) = rx.try_recv() {
        inner.pending.push_back(out);
    }
}

fn ready(shared: &Shared) -> Value {
    let mut inner = shared.inner.lock().unwrap();
    let session = format!("session-{}", inner.connections);
    inner.session = Some(session.clone());
    inner.seq += 1;
    json!({
        "op": 0, "s": inner.seq, "t": "READY",
        "d": {
            "v": 10,
            "user": bot_user(),
            "guilds": [],
            "session_id": session,
            "resume_gateway_url": shared.gateway_url,
            "shard": [0, 1],
            "application": { "id": APP_ID.to_string(), "flags": 0 }
        }
    })
}

fn resumed(shared: &Shared) -> Value {
    let mut inner = shared.inner.lock().unwrap();
    inner.seq += 1;
    json!({ "op": 0, "s": inner.seq, "t": "RESUMED", "d": {} })
}

// --------------------------------------------------------- interactions

/// Where an interaction comes from.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub user: u64,
    pub channel: u64,
    /// `None`: a direct message.
    pub guild: Option<u64>,
    pub attachment_limit: u64,
}

impl Place {
    pub fn guild(user: u64, channel: u64, guild: u64) -> Self {
        Self {
            user,
            channel,
            guild: Some(guild),
            attachment_limit: 10 * 1024 * 1024,
        }
    }

    pub fn dm(user: u64, channel: u64) -> Self {
        Self {
            user,
            channel,
            guild: None,
            attachment_limit: 10 * 1024 * 1024,
        }
    }
}

pub fn token_of(id: u64) -> String {
    format!("itoken-{id}")
}

fn user(id: u64) -> Value {
    json!({
        "id": id.to_string(), "username": format!("user{id}"), "discriminator": "0",
        "global_name": null, "avatar": null
    })
}

fn base_interaction(id: u64, kind: u8, place: &Place, data: Value) -> Value {
    let mut interaction = json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "channel_id": place.channel.to_string(),
        "channel": { "id": place.channel.to_string(), "type": if place.guild.is_some() { 0 } else { 1 } },
        "token": token_of(id),
        "version": 1,
        "app_permissions": "2251799813685247",
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": if place.guild.is_some() { 0 } else { 1 },
        "attachment_size_limit": place.attachment_limit,
    });
    match place.guild {
        Some(guild) => {
            interaction["guild_id"] = json!(guild.to_string());
            interaction["guild_locale"] = json!("en-US");
            interaction["member"] = json!({
                "user": user(place.user), "roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00",
                "deaf": false, "mute": false, "flags": 0, "pending": false,
                "permissions": "2251799813685247"
            });
        }
        None => interaction["user"] = user(place.user),
    }
    interaction
}

/// A slash command; `options` as Discord sends them, e.g.
/// `[{"name": "prompt", "type": 3, "value": "a cat"}]`.
pub fn slash(id: u64, place: &Place, name: &str, options: Value) -> Value {
    let data = json!({ "id": "5550001", "name": name, "type": 1, "options": options });
    base_interaction(id, 2, place, data)
}

/// `/video` with a prompt and integer/string options.
pub fn video(id: u64, place: &Place, prompt: &str, extra: &[(&str, Value)]) -> Value {
    let mut options = vec![json!({ "name": "prompt", "type": 3, "value": prompt })];
    for (name, value) in extra {
        let kind = if value.is_string() { 3 } else { 4 };
        options.push(json!({ "name": name, "type": kind, "value": value }));
    }
    slash(id, place, "video", Value::Array(options))
}

/// `/video` with a prompt and an `image` attachment: (attachment id,
/// file name, declared size, url, declared content type).
pub fn video_with_image(
    id: u64,
    place: &Place,
    prompt: &str,
    image: (u64, &str, u64, &str, &str),
) -> Value {
    let (attachment, name, size, url, content_type) = image;
    let data = json!({
        "id": "5550001", "name": "video", "type": 1,
        "options": [
            { "name": "prompt", "type": 3, "value": prompt },
            { "name": "image", "type": 11, "value": attachment.to_string() }
        ],
        "resolved": { "attachments": { attachment.to_string(): {
            "id": attachment.to_string(), "filename": name, "size": size,
            "url": url, "proxy_url": url, "content_type": content_type
        } } }
    });
    base_interaction(id, 2, place, data)
}

/// A button press on message `message_id`.
pub fn button(id: u64, place: &Place, custom_id: &str, message_id: u64) -> Value {
    let data = json!({ "custom_id": custom_id, "component_type": 2 });
    let mut interaction = base_interaction(id, 3, place, data);
    interaction["message"] = message(message_id, place.channel, &json!({ "content": "" }), true);
    interaction
}

/// `/cameo <sub>` with `options` (as Discord sends a sub-command's), and
/// `attachments` resolved: (attachment id, file name, size, url).
pub fn cameo(
    id: u64,
    place: &Place,
    sub: &str,
    options: Value,
    attachments: &[(u64, &str, u64, &str)],
) -> Value {
    let mut resolved = serde_json::Map::new();
    for (attachment, name, size, url) in attachments {
        resolved.insert(
            attachment.to_string(),
            json!({ "id": attachment.to_string(), "filename": name, "size": size,
                    "url": url, "proxy_url": url, "content_type": "video/mp4" }),
        );
    }
    let data = json!({
        "id": "5550002", "name": "cameo", "type": 1,
        "options": [{ "name": sub, "type": 1, "options": options }],
        "resolved": { "attachments": resolved }
    });
    base_interaction(id, 2, place, data)
}

/// An autocomplete request (type 4) for `/video`'s `cameo` option, typed so far as `typed`.
pub fn cameo_autocomplete(id: u64, place: &Place, typed: &str) -> Value {
    let data = json!({
        "id": "5550001", "name": "video", "type": 1,
        "options": [
            { "name": "prompt", "type": 3, "value": "a dance" },
            { "name": "cameo", "type": 3, "value": typed, "focused": true }
        ]
    });
    base_interaction(id, 4, place, data)
}
