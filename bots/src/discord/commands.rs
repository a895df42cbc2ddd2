//! The slash commands: their definitions (registered at start, with the
//! core's limits declared to Discord so its client checks them first) and
//! the translation of an invoked command into the core's [`Command`].

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{
    CommandData, CommandDataOption, CommandDataOptionValue, CommandOptionType, InteractionContext,
};
use serenity::model::channel::Attachment;

use crate::core::menu::{self, Args, OptionKind};
use crate::core::{
    self, cameo, wording, CameoCommand, Command, RenderSettings, UsageError, VideoRequest,
};

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
                Args::Cameo => cameo_subcommands()
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
    let cameo = CreateCommandOption::new(
        CommandOptionType::String,
        "cameo",
        wording::CAMEO_OPTION_ABOUT,
    )
    .set_autocomplete(true);
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
        cameo,
        CreateCommandOption::new(CommandOptionType::String, "say", wording::SAY_OPTION_ABOUT)
            .min_length(1)
            .max_length(u16::try_from(core::MAX_SAY_CHARS).unwrap_or(u16::MAX)),
        CreateCommandOption::new(
            CommandOptionType::Attachment,
            "image",
            wording::picture::IMAGE_OPTION_ABOUT,
        ),
    ]
}

/// `/cameo`'s sub-commands (SUB_COMMAND options), from the core's table.
fn cameo_subcommands() -> Vec<CreateCommandOption> {
    menu::CAMEO_SUBCOMMANDS
        .iter()
        .map(|sub| {
            let spec =
                CreateCommandOption::new(CommandOptionType::SubCommand, sub.name, sub.summary);
            sub.options.iter().fold(spec, |spec, option| {
                let kind = match option.kind {
                    OptionKind::Text | OptionKind::Choice(_) => CommandOptionType::String,
                    OptionKind::User => CommandOptionType::User,
                    OptionKind::Attachment => CommandOptionType::Attachment,
                };
                let mut typed = CreateCommandOption::new(kind, option.name, option.about)
                    .required(option.required);
                if let OptionKind::Choice(choices) = option.kind {
                    for choice in choices {
                        typed = typed.add_string_choice(*choice, *choice);
                    }
                }
                spec.add_sub_option(typed)
            })
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
        "cameo" => cameo_command(&data.options).map(Command::Cameo),
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
            (CommandDataOptionValue::String(text), "aspect" | "cameo" | "say") => text.clone(),
            // The picture: see `video_picture`.
            (CommandDataOptionValue::Attachment(_), "image") => continue,
            (_, "prompt" | "duration" | "seed" | "aspect" | "cameo" | "say" | "image") => {
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

/// `/video`'s `image` attachment, if one was sent.
pub fn video_picture(data: &CommandData) -> Option<&Attachment> {
    if data.name != "video" {
        return None;
    }
    let id = data.options.iter().find_map(|o| match o.value {
        CommandDataOptionValue::Attachment(id) if o.name == "image" => Some(id),
        _ => None,
    })?;
    data.resolved.attachments.get(&id)
}

/// `/cameo submit`'s attachment: `None` for any other command, `Some(None)`
/// for a submit without one.
pub fn submitted_recording(data: &CommandData) -> Option<Option<&Attachment>> {
    if data.name != "cameo" {
        return None;
    }
    let sub = data.options.first()?;
    let CommandDataOptionValue::SubCommand(args) = &sub.value else {
        return None;
    };
    if sub.name != "submit" {
        return None;
    }
    let id = args.iter().find_map(|o| match o.value {
        CommandDataOptionValue::Attachment(id) => Some(id),
        _ => None,
    });
    Some(id.and_then(|id| data.resolved.attachments.get(&id)))
}

/// An invoked `/cameo` sub-command. `submit` (an attachment to download)
/// is the handler's; anything else goes to the core as typed.
fn cameo_command(options: &[CommandDataOption]) -> Result<CameoCommand, UsageError> {
    let Some(sub) = options.first() else {
        return Ok(CameoCommand::Help);
    };
    let CommandDataOptionValue::SubCommand(args) = &sub.value else {
        return Err(UsageError(wording::WRONG_OPTION_KIND.into()));
    };
    let text = |name: &str| -> Result<Option<String>, UsageError> {
        match args.iter().find(|o| o.name == name).map(|o| &o.value) {
            None => Ok(None),
            Some(CommandDataOptionValue::String(value)) => Ok(Some(value.clone())),
            Some(CommandDataOptionValue::User(user)) => Ok(Some(user.get().to_string())),
            Some(_) => Err(UsageError(wording::WRONG_OPTION_KIND.into())),
        }
    };
    let required = |name: &str| -> Result<String, UsageError> {
        text(name)?.ok_or_else(|| UsageError(wording::cameo::usage_of(&sub.name)))
    };
    let name = text("cameo")?;
    Ok(match sub.name.as_str() {
        "register" => CameoCommand::Register {
            name: required("name")?,
        },
        "status" => CameoCommand::Status { name },
        "clips" => CameoCommand::Clips { name },
        "withdraw" => CameoCommand::Withdraw { name },
        "erase" => CameoCommand::Erase { name },
        "audience" => CameoCommand::Audience {
            name,
            audience: cameo::audience(&required("who")?)?,
        },
        "approval" => CameoCommand::Approval {
            name,
            mode: cameo::approval(&required("mode")?)?,
        },
        "allow" => CameoCommand::Allow {
            name,
            user: required("user")?,
        },
        "deny" => CameoCommand::Deny {
            name,
            user: required("user")?,
        },
        "restrict" => CameoCommand::Restrict {
            name,
            phrases: cameo::restrictions(&required("words")?)?,
        },
        "approve" | "reject" => {
            let job = required("job")?;
            match cameo::parse(&format!("{} {job}", sub.name))? {
                answer @ CameoCommand::Answer { .. } => answer,
                _ => return Err(UsageError(wording::cameo::usage_of(&sub.name))),
            }
        }
        other => return Err(UsageError(wording::cameo::usage_of(other))),
    })
}
