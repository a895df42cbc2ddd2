//! The slash commands: their definitions (registered at start, with the
//! core's limits declared to Discord so its client checks them first) and
//! the translation of an invoked command into the core's [`Command`].

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{
    CommandData, CommandDataOption, CommandDataOptionValue, CommandOptionType, InteractionContext,
};

use crate::core::{self, Command, RenderSettings, UsageError, VideoRequest};

/// Discord's cap on a string option's `max_length`.
const DISCORD_MAX_LENGTH: usize = 6000;
const ASPECTS: [&str; 3] = ["landscape", "portrait", "square"];

/// Every command the bot registers. A new command group (e.g. /cameo) adds
/// its definitions here and its handler in `handlers`.
pub fn definitions(settings: &RenderSettings) -> Vec<CreateCommand> {
    let job = |what: &str| {
        CreateCommandOption::new(CommandOptionType::Integer, "job", what)
            .min_int_value(1)
            .required(false)
    };
    let max_prompt = settings.max_prompt_chars.clamp(1, DISCORD_MAX_LENGTH);
    let mut aspect = CreateCommandOption::new(
        CommandOptionType::String,
        "aspect",
        "Landscape (default), portrait or square",
    );
    for name in ASPECTS {
        aspect = aspect.add_string_choice(name, name);
    }
    let video = CreateCommand::new("video")
        .description("Make a short clip with sound from a sentence")
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "prompt", "What to film")
                .required(true)
                .min_length(1)
                .max_length(u16::try_from(max_prompt).unwrap_or(u16::MAX)),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "duration",
                format!(
                    "Length in seconds ({} to {}, default {})",
                    settings.durations.start(),
                    settings.durations.end(),
                    settings.default_duration
                ),
            )
            .min_int_value(u64::from(*settings.durations.start()))
            .max_int_value(u64::from(*settings.durations.end())),
        )
        .add_option(aspect)
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "seed",
                "Same seed + same prompt = same clip",
            )
            .min_int_value(0)
            .max_int_value(u64::from(u32::MAX)),
        );
    [
        video,
        CreateCommand::new("status")
            .description("Where your clips are")
            .add_option(job("A job number; all your clips on the way if left out")),
        CreateCommand::new("cancel")
            .description("Stop a clip (your latest if no number is given)")
            .add_option(job("The job number to stop")),
        CreateCommand::new("history").description("Your recent clips"),
        CreateCommand::new("clip")
            .description("Post one of your clips here again")
            .add_option(job("The job number of the clip").required(true)),
        CreateCommand::new("help").description("How to use reel"),
    ]
    .into_iter()
    // Servers, DMs with the bot, and other private channels.
    .map(|c| {
        c.contexts(vec![
            InteractionContext::Guild,
            InteractionContext::BotDm,
            InteractionContext::PrivateChannel,
        ])
    })
    .collect()
}

/// The core command an invoked slash command stands for. Validation of
/// values (prompt length, ranges) stays with the core.
pub fn parse(data: &CommandData) -> Result<Command, UsageError> {
    match data.name.as_str() {
        "video" => video(&data.options).map(Command::Video),
        "status" => Ok(Command::Status(job(&data.options)?)),
        "cancel" => Ok(Command::Cancel(job(&data.options)?)),
        "history" => Ok(Command::History),
        // The core words a missing number.
        "clip" => match job(&data.options)? {
            Some(id) => Ok(Command::Clip(id)),
            None => core::parse("/clip", false),
        },
        "help" => Ok(Command::Help),
        // A command this version no longer has (stale registration): the
        // core words the refusal.
        other => core::parse(&format!("/{other}"), false),
    }
}

fn video(options: &[CommandDataOption]) -> Result<VideoRequest, UsageError> {
    let mut request = VideoRequest::default();
    for option in options {
        let value =
            match (&option.value, option.name.as_str()) {
                (CommandDataOptionValue::String(text), "prompt") => {
                    request.prompt.clone_from(text);
                    continue;
                }
                (CommandDataOptionValue::Integer(n), "duration" | "seed") => n.to_string(),
                (CommandDataOptionValue::String(text), "aspect") => text.clone(),
                (_, "prompt" | "duration" | "seed" | "aspect") => return Err(UsageError(
                    "An option has a value of the wrong kind; please pick it again from the menu."
                        .into(),
                )),
                // Not ours (a stale registration): the core refuses it by name.
                _ => String::from("?"),
            };
        request.options.push((option.name.to_lowercase(), value));
    }
    Ok(request)
}

fn job(options: &[CommandDataOption]) -> Result<Option<i64>, UsageError> {
    match options.iter().find(|o| o.name == "job").map(|o| &o.value) {
        None => Ok(None),
        Some(CommandDataOptionValue::Integer(id)) if *id > 0 => Ok(Some(*id)),
        Some(_) => Err(UsageError(
            "That is not a job number; job numbers look like 12.".into(),
        )),
    }
}
