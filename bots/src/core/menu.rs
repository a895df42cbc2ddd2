//! The command table: every command the bots answer, once. Telegram's
//! command menu (setMyCommands), Discord's slash-command registration and
//! `/help` are all generated from it.

/// What a command takes after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    None,
    /// A prompt and `key:value` options ([`VIDEO_OPTIONS`]).
    Video,
    /// A job number; `about` describes it (Discord shows it by the field).
    Job {
        required: bool,
        about: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    /// One line for menus (Telegram's list, Discord's description; both
    /// allow 100 characters).
    pub summary: &'static str,
    /// How it is typed, for `/help`.
    pub usage: &'static str,
    pub args: Args,
}

pub const COMMANDS: [CommandSpec; 6] = [
    CommandSpec {
        name: "video",
        summary: "Make a short clip with sound from a sentence",
        usage: "/video <what to film> [options]",
        args: Args::Video,
    },
    CommandSpec {
        name: "status",
        summary: "Where your clips are",
        usage: "/status [job]",
        args: Args::Job {
            required: false,
            about: "A job number; all your clips on the way if left out",
        },
    },
    CommandSpec {
        name: "cancel",
        summary: "Stop a clip (your latest if no number is given)",
        usage: "/cancel [job]",
        args: Args::Job {
            required: false,
            about: "The job number to stop",
        },
    },
    CommandSpec {
        name: "history",
        summary: "Your recent clips",
        usage: "/history",
        args: Args::None,
    },
    CommandSpec {
        name: "clip",
        summary: "Post one of your clips here again",
        usage: "/clip <job>",
        args: Args::Job {
            required: true,
            about: "The job number of the clip",
        },
    },
    CommandSpec {
        name: "help",
        summary: "How to use reel",
        usage: "/help",
        args: Args::None,
    },
];

/// `/video`'s options, with what each does (for `/help`).
pub const VIDEO_OPTIONS: [(&str, &str); 4] = [
    ("duration:N", "length in seconds"),
    ("seed:N", "same seed + same prompt = same clip"),
    ("aspect:X", "landscape, portrait or square"),
    ("size:WxH", "exact size, e.g. size:640x384"),
];

/// The spec of command `name` (any case), if the bots have it.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The `/help` text.
pub fn help() -> String {
    let mut text = String::from("reel turns a sentence into a short video clip with sound.\n\n");
    for spec in &COMMANDS {
        text.push_str(&format!("{:<32} {}\n", spec.usage, spec.summary));
        if spec.args == Args::Video {
            for (option, about) in VIDEO_OPTIONS {
                text.push_str(&format!("    {option:<12} {about}\n"));
            }
            text.push_str("    e.g. /video a boy throws a ball in a park duration:5\n");
        }
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_command_and_option() {
        let help = help();
        for spec in &COMMANDS {
            assert!(help.contains(spec.usage), "{}", spec.name);
            assert!(spec.summary.len() <= 100, "{}", spec.name);
        }
        for (option, _) in VIDEO_OPTIONS {
            assert!(help.contains(option), "{option}");
        }
        assert_eq!(find("VIDEO").map(|c| c.name), Some("video"));
        assert_eq!(find("frobnicate"), None);
    }
}
