//! Webhook mode: the adapter registers its webhook with the fake Bot API,
//! listens on a loopback port, and answers an update POSTed there exactly
//! as it answers a polled one. Requests without the secret are refused.

#[path = "telegram/fake.rs"]
#[allow(dead_code)]
mod fake;
#[path = "telegram/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use fake::text_update;
use harness::Harness;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// POSTs `body` to the listener as Telegram would; returns the HTTP status.
async fn post(addr: SocketAddr, path: &str, secret: Option<&str>, body: &Value) -> u16 {
    let body = body.to_string();
    let secret = secret
        .map(|s| format!("X-Telegram-Bot-Api-Secret-Token: {s}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{secret}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("the webhook answers within 5 s");
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"))
}

#[tokio::test]
async fn an_update_posted_to_the_webhook_is_answered_through_the_bot_api() {
    let (h, listen) = Harness::start_webhook().await;
    let registered = h.fake.wait_for("setWebhook", 1).await.remove(0);
    assert_eq!(registered.str("url"), "https://reel.example/telegram/hook");
    let secret = registered.str("secret_token").to_string();
    assert!(secret.len() >= 16, "a secret token is registered");
    assert!(
        h.fake.calls_to("getUpdates").is_empty(),
        "no polling in webhook mode"
    );

    // Without the secret (or with a wrong one): refused, nothing queued.
    let update = text_update(1, 77, 77, "/video a cat at the window duration:1");
    let mut forged = update.clone();
    forged["update_id"] = 1.into();
    assert_eq!(post(listen, "/telegram/hook", None, &forged).await, 401);
    assert_eq!(
        post(listen, "/telegram/hook", Some("wrong"), &forged).await,
        401
    );

    assert_eq!(
        post(listen, "/telegram/hook", Some(&secret), &forged).await,
        200
    );
    let queued = h.fake.wait_for("sendMessage", 1).await.remove(0);
    assert!(
        queued.str("text").starts_with("#1 queued"),
        "{}",
        queued.str("text")
    );
    assert_eq!(queued.int("chat_id"), 77);
    assert_eq!(queued.buttons(), ["reel:cancel:1"]);
    assert_eq!(h.jobs().await.len(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.fake.calls_to("sendMessage").len(), 1, "one reply");

    // Stopping deletes the webhook and closes the port.
    h.stop_webhook().await;
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "the webhook listener is closed"
    );
}
