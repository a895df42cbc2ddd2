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
    /// A sub-command ([`CAMEO_SUBCOMMANDS`]) and its options.
    Cameo,
}

/// The kind of value a sub-command option takes (Discord types them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    Text,
    /// A user of the platform (Discord's user picker, a mention or an id).
    User,
    /// A file sent with the command.
    Attachment,
    /// One of these words.
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    pub name: &'static str,
    /// At most 100 characters (Discord's limit).
    pub about: &'static str,
    pub kind: OptionKind,
    pub required: bool,
}

/// One `/cameo` sub-command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubcommandSpec {
    pub name: &'static str,
    pub summary: &'static str,
    /// How it is typed, for `/help`.
    pub usage: &'static str,
    pub options: &'static [OptionSpec],
}

/// Audience levels, as typed.
pub const AUDIENCES: &[&str] = &["only_me", "approved", "everyone"];
/// Approval modes, as typed.
pub const APPROVAL_MODES: &[&str] = &["auto", "ask"];

/// The optional cameo name of sub-commands that act on one of the owner's
/// cameos (needed when they have more than one).
const CAMEO_NAME: OptionSpec = OptionSpec {
    name: "cameo",
    about: "Which of your cameos (needed if you have more than one)",
    kind: OptionKind::Text,
    required: false,
};

pub const CAMEO_SUBCOMMANDS: [SubcommandSpec; 13] = [
    SubcommandSpec {
        name: "register",
        summary: "Register your face and voice as a cameo",
        usage: "/cameo register NAME",
        options: &[OptionSpec {
            name: "name",
            about: "The cameo's name: 2 to 20 lowercase letters, digits or _",
            kind: OptionKind::Text,
            required: true,
        }],
    },
    SubcommandSpec {
        name: "submit",
        summary: "Send the recording of you reading the phrase",
        usage: "/cameo submit PATH",
        options: &[OptionSpec {
            name: "recording",
            about: "A video of you reading the phrase, recorded by you",
            kind: OptionKind::Attachment,
            required: true,
        }],
    },
    SubcommandSpec {
        name: "status",
        summary: "Your cameos and their settings",
        usage: "/cameo status [NAME]",
        options: &[CAMEO_NAME],
    },
    SubcommandSpec {
        name: "audience",
        summary: "Who may put your cameo in clips",
        usage: "/cameo audience only_me|approved|everyone [cameo:NAME]",
        options: &[
            OptionSpec {
                name: "who",
                about: "only_me, approved (you and the users you allow) or everyone",
                kind: OptionKind::Choice(AUDIENCES),
                required: true,
            },
            CAMEO_NAME,
        ],
    },
    SubcommandSpec {
        name: "allow",
        summary: "Let a user use your cameo (audience approved)",
        usage: "/cameo allow USER [cameo:NAME]",
        options: &[
            OptionSpec {
                name: "user",
                about: "The user to allow",
                kind: OptionKind::User,
                required: true,
            },
            CAMEO_NAME,
        ],
    },
    SubcommandSpec {
        name: "deny",
        summary: "Take a user's permission back",
        usage: "/cameo deny USER [cameo:NAME]",
        options: &[
            OptionSpec {
                name: "user",
                about: "The user to deny",
                kind: OptionKind::User,
                required: true,
            },
            CAMEO_NAME,
        ],
    },
    SubcommandSpec {
        name: "restrict",
        summary: "Words no clip with your cameo may ask for",
        usage: "/cameo restrict WORDS…|none [cameo:NAME]",
        options: &[
            OptionSpec {
                name: "words",
                about: "Words, or phrases separated by commas; none clears the list",
                kind: OptionKind::Text,
                required: true,
            },
            CAMEO_NAME,
        ],
    },
    SubcommandSpec {
        name: "approval",
        summary: "Approve each clip with your cameo yourself, or not",
        usage: "/cameo approval auto|ask [cameo:NAME]",
        options: &[
            OptionSpec {
                name: "mode",
                about: "auto (no approval needed) or ask (you approve each clip)",
                kind: OptionKind::Choice(APPROVAL_MODES),
                required: true,
            },
            CAMEO_NAME,
        ],
    },
    SubcommandSpec {
        name: "clips",
        summary: "Every clip made with your likeness, to delete",
        usage: "/cameo clips [NAME]",
        options: &[CAMEO_NAME],
    },
    SubcommandSpec {
        name: "withdraw",
        summary: "Withdraw consent: nobody may use your cameo any more",
        usage: "/cameo withdraw [NAME]",
        options: &[CAMEO_NAME],
    },
    SubcommandSpec {
        name: "erase",
        summary: "Withdraw consent and destroy your cameo's face and voice",
        usage: "/cameo erase [NAME]",
        options: &[CAMEO_NAME],
    },
    SubcommandSpec {
        name: "approve",
        summary: "Let a clip with your cameo go to the person who asked for it",
        usage: "/cameo approve JOB",
        options: &[CLIP_JOB],
    },
    SubcommandSpec {
        name: "reject",
        summary: "Delete a clip with your cameo instead of posting it",
        usage: "/cameo reject JOB",
        options: &[CLIP_JOB],
    },
];

/// The clip an approval answer is about.
const CLIP_JOB: OptionSpec = OptionSpec {
    name: "job",
    about: "The clip's job number (in the approval request)",
    kind: OptionKind::Text,
    required: true,
};

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

pub const COMMANDS: [CommandSpec; 7] = [
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
        name: "cameo",
        summary: "Your cameo: register your face and voice, choose who may use it",
        usage: "/cameo <what>",
        args: Args::Cameo,
    },
    CommandSpec {
        name: "help",
        summary: "How to use reel",
        usage: "/help",
        args: Args::None,
    },
];

/// `/video`'s options, with what each does (for `/help`).
pub const VIDEO_OPTIONS: [(&str, &str); 5] = [
    ("duration:N", "length in seconds"),
    ("seed:N", "same seed + same prompt = same clip"),
    ("aspect:X", "landscape, portrait or square"),
    ("size:WxH", "exact size, e.g. size:640x384"),
    (
        "say:\"…\"",
        "a line spoken in the clip, in quotes (with cameo:NAME in that person's voice)",
    ),
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
        if spec.args == Args::Cameo {
            for sub in &CAMEO_SUBCOMMANDS {
                text.push_str(&format!("    {:<28} {}\n", sub.usage, sub.summary));
            }
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
        for sub in &CAMEO_SUBCOMMANDS {
            assert!(help.contains(sub.usage), "{}", sub.name);
            assert!(sub.summary.len() <= 100, "{}", sub.name);
            for option in sub.options {
                assert!(option.about.len() <= 100, "{}", option.name);
            }
        }
        assert_eq!(find("VIDEO").map(|c| c.name), Some("video"));
        assert_eq!(find("frobnicate"), None);
    }
}
