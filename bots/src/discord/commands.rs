//! The slash commands: their definitions (registered at start, with the
//! core's limits declared to Discord so its client checks them first) and
//! the translation of an invoked command into the core's [`Command`].

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{
    CommandData, CommandDataOption, CommandDataOptionValue, CommandOptionType, InteractionContext,
};

use crate::core::menu::{self, Args};
use crate::core::{self, wording, Command, RenderSettings, UsageError, VideoRequest};

/// Discord's cap on a string option's `max_length`.
const DISCORD_MAX_LENGTH: usize = 6000;
const ASPECTS: [&str; 3] = ["landscape", "portrait", "square"];

/// Every command the bot registers, from the core's command table; the
/// video options are typed here so Discord's client checks the limits.
pub fn definitions(settings: &RenderSettings) -> Vec<CreateCommand> {
    menu::COMMANDS
        .iter()
        .map(|spec| {
            let command = CreateCommand::new(spec.name).description(spec.summary);
            let command = match spec.args {
                Args::None => command,
                Args::Job { required, about } => command.add_option(
                    CreateCommandOption::new(CommandOptionType::Integer, "job", about)
                        .min_int_value(1)
                        .required(required),
                ),
                Args::Video => video_options(settings)
                    .into_iter()
                    .fold(command, CreateCommand::add_option),
            };
            // Servers, DMs with the bot, and other private channels.
            command.contexts(vec![
                InteractionContext::Guild,
                InteractionContext::BotDm,
                InteractionContext::PrivateChannel,
            ])
        })
        .collect()
}

fn video_options(settings: &RenderSettings) -> Vec<CreateCommandOption> {
    let max_prompt = settings.max_prompt_chars.clamp(1, DISCORD_MAX_LENGTH);
    let mut aspect = CreateCommandOption::new(
        CommandOptionType::String,
        "aspect",
        wording::ASPECT_OPTION_ABOUT,
    );
    for name in ASPECTS {
        aspect = aspect.add_string_choice(name, name);
    }
    vec![
        CreateCommandOption::new(
            CommandOptionType::String,
            "prompt",
            wording::PROMPT_OPTION_ABOUT,
        )
        .required(true)
        .min_length(1)
        .max_length(u16::try_from(max_prompt).unwrap_or(u16::MAX)),
        CreateCommandOption::new(
            CommandOptionType::Integer,
            "duration",
            wording::duration_option_about(&settings.durations, settings.default_duration),
        )
        .min_int_value(u64::from(*settings.durations.start()))
        .max_int_value(u64::from(*settings.durations.end())),
        aspect,
        CreateCommandOption::new(
            CommandOptionType::Integer,
            "seed",
            wording::SEED_OPTION_ABOUT,
        )
        .min_int_value(0)
        .max_int_value(u64::from(u32::MAX)),
    ]
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
        let value = match (&option.value, option.name.as_str()) {
            (CommandDataOptionValue::String(text), "prompt") => {
                request.prompt.clone_from(text);
                continue;
            }
            (CommandDataOptionValue::Integer(n), "duration" | "seed") => n.to_string(),
            (CommandDataOptionValue::String(text), "aspect") => text.clone(),
            (_, "prompt" | "duration" | "seed" | "aspect") => {
                return Err(UsageError(wording::WRONG_OPTION_KIND.into()))
            }
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
        Some(_) => Err(UsageError(wording::NOT_A_JOB_NUMBER.into())),
    }
}
