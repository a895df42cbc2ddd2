//! Helpers shared by the engine's integration tests.

use reel_engine::{CancelToken, RenderRequest, Rendered, Renderer, TestPattern};

pub fn request(width: u32, height: u32, frames: u32, fps: u32, seed: u64) -> RenderRequest {
    RenderRequest {
        prompt: "a red fox jumps over a sleeping dog".to_string(),
        seed,
        frames,
        width,
        height,
        fps,
        reference_image: None,
        reference_voice: None,
        speech: None,
    }
}

pub fn render(req: &RenderRequest) -> Rendered {
    TestPattern::new()
        .render(req, &mut |_| {}, &CancelToken::new())
        .expect("testsrc renders a valid request")
}
