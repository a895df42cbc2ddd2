//! `/cameo <what> …` as typed: `/cameo register ana`, `/cameo audience
//! everyone`, `/cameo allow 123 cameo:ana`, `/cameo restrict beach, red
//! dress`. Which cameo a command acts on is the `cameo:NAME` word (or, for
//! commands that take nothing else, the one word after the sub-command);
//! left out, the owner's only cameo is meant.

use std::path::PathBuf;

use reel_consent::{ApprovalMode, Audience};

use crate::core::command::UsageError;
use crate::core::wording::cameo as words;

/// A `/cameo` command, before the registry sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameoCommand {
    /// `/cameo` alone: what the sub-commands are.
    Help,
    Register {
        name: String,
    },
    /// The terminal's answer to a challenge: a recording on this machine.
    Submit {
        path: PathBuf,
    },
    Status {
        name: Option<String>,
    },
    Audience {
        name: Option<String>,
        audience: Audience,
    },
    /// `user` as typed: a platform user id or a Discord mention.
    Allow {
        name: Option<String>,
        user: String,
    },
    Deny {
        name: Option<String>,
        user: String,
    },
    /// Replaces the list; empty clears it.
    Restrict {
        name: Option<String>,
        phrases: Vec<String>,
    },
    Approval {
        name: Option<String>,
        mode: ApprovalMode,
    },
    Clips {
        name: Option<String>,
    },
    Withdraw {
        name: Option<String>,
    },
    Erase {
        name: Option<String>,
    },
    /// The owner's answer about clip `job_id` with their cameo (approval
    /// mode `ask`).
    Answer {
        job_id: i64,
        approve: bool,
    },
}

fn usage(text: impl Into<String>) -> UsageError {
    UsageError(text.into())
}

/// Parses what follows `/cameo`.
pub fn parse(args: &str) -> Result<CameoCommand, UsageError> {
    let args = args.trim();
    let (sub, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let sub = sub.to_lowercase();
    if sub == "submit" {
        let path = rest.trim();
        if path.is_empty() {
            return Err(usage(words::SUBMIT_NEEDS_PATH));
        }
        return Ok(CameoCommand::Submit { path: path.into() });
    }
    let (named, rest) = cameo_option(rest)?;
    let single = |rest: &[&str]| -> Result<Option<String>, UsageError> {
        match (named.clone(), rest) {
            (name, []) => Ok(name),
            (None, [name]) => Ok(Some(name.to_string())),
            _ => Err(usage(words::usage_of(&sub))),
        }
    };
    // A value, with the cameo's name before it or as `cameo:NAME`.
    let valued = |rest: &[&str]| -> Result<(Option<String>, String), UsageError> {
        match (named.clone(), rest) {
            (name, [value]) => Ok((name, value.to_string())),
            (None, [name, value]) => Ok((Some(name.to_string()), value.to_string())),
            _ => Err(usage(words::usage_of(&sub))),
        }
    };
    let rest = rest.as_slice();
    match sub.as_str() {
        "" | "help" => Ok(CameoCommand::Help),
        "register" => match single(rest)? {
            Some(name) => Ok(CameoCommand::Register { name }),
            None => Err(usage(words::usage_of("register"))),
        },
        "status" => Ok(CameoCommand::Status {
            name: single(rest)?,
        }),
        "clips" => Ok(CameoCommand::Clips {
            name: single(rest)?,
        }),
        "withdraw" => Ok(CameoCommand::Withdraw {
            name: single(rest)?,
        }),
        "erase" => Ok(CameoCommand::Erase {
            name: single(rest)?,
        }),
        "audience" => {
            let (name, value) = valued(rest)?;
            Ok(CameoCommand::Audience {
                name,
                audience: audience(&value)?,
            })
        }
        "approval" => {
            let (name, value) = valued(rest)?;
            Ok(CameoCommand::Approval {
                name,
                mode: approval(&value)?,
            })
        }
        "allow" => {
            let (name, user) = valued(rest)?;
            Ok(CameoCommand::Allow { name, user })
        }
        "deny" => {
            let (name, user) = valued(rest)?;
            Ok(CameoCommand::Deny { name, user })
        }
        "approve" | "reject" => match rest {
            [job] => match job.trim_start_matches('#').parse::<i64>() {
                Ok(job_id) if job_id > 0 => Ok(CameoCommand::Answer {
                    job_id,
                    approve: sub == "approve",
                }),
                _ => Err(usage(words::usage_of(&sub))),
            },
            _ => Err(usage(words::usage_of(&sub))),
        },
        "restrict" => Ok(CameoCommand::Restrict {
            name: named,
            phrases: restrictions(&rest.join(" "))?,
        }),
        _ => Err(usage(words::unknown_subcommand(&sub))),
    }
}

/// Takes the one `cameo:NAME` word out of `rest`; the other words stay.
fn cameo_option(rest: &str) -> Result<(Option<String>, Vec<&str>), UsageError> {
    let mut name = None;
    let mut others = Vec::new();
    for word in rest.split_whitespace() {
        match word.split_once(':') {
            Some((key, value)) if key.eq_ignore_ascii_case("cameo") => {
                if name.is_some() || value.is_empty() {
                    return Err(usage(words::ONE_CAMEO_NAME));
                }
                name = Some(value.to_string());
            }
            _ => others.push(word),
        }
    }
    Ok((name, others))
}

pub fn audience(value: &str) -> Result<Audience, UsageError> {
    match value.to_lowercase().replace('-', "_").as_str() {
        "only_me" | "me" => Ok(Audience::OnlyMe),
        "approved" => Ok(Audience::Approved),
        "everyone" => Ok(Audience::Everyone),
        _ => Err(usage(words::not_an_audience(value))),
    }
}

pub fn approval(value: &str) -> Result<ApprovalMode, UsageError> {
    match value.to_lowercase().as_str() {
        "auto" => Ok(ApprovalMode::Auto),
        "ask" => Ok(ApprovalMode::Ask),
        _ => Err(usage(words::not_an_approval_mode(value))),
    }
}

/// `none` clears the list; with commas each part is a phrase, without
/// them each word is one.
pub fn restrictions(text: &str) -> Result<Vec<String>, UsageError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(usage(words::usage_of("restrict")));
    }
    if text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let parts: Vec<String> = match text.contains(',') {
        true => text.split(',').map(|p| p.trim().to_string()).collect(),
        false => text.split_whitespace().map(str::to_string).collect(),
    };
    Ok(parts.into_iter().filter(|p| !p.is_empty()).collect())
}

/// The platform user id `typed` names: a Discord mention (`<@123>`,
/// `<@!123>`) or an id. Telegram and Discord ids are numbers.
pub fn user_id(platform: &str, typed: &str) -> Result<String, UsageError> {
    let typed = typed.trim();
    let id = typed
        .strip_prefix("<@")
        .and_then(|rest| rest.strip_suffix('>'))
        .map(|rest| rest.trim_start_matches('!'))
        .unwrap_or(typed);
    let numeric = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
    let word = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let valid = match platform {
        "telegram" | "discord" => numeric,
        _ => word,
    };
    match valid {
        true => Ok(id.to_string()),
        false => Err(usage(words::not_a_user(platform, typed))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_commands_and_their_cameo_names() {
        assert_eq!(parse("").unwrap(), CameoCommand::Help);
        assert_eq!(
            parse("register Ana").unwrap(),
            CameoCommand::Register { name: "Ana".into() }
        );
        assert_eq!(
            parse("submit /tmp/my clip.mp4").unwrap(),
            CameoCommand::Submit {
                path: "/tmp/my clip.mp4".into()
            }
        );
        assert_eq!(
            parse("audience everyone").unwrap(),
            CameoCommand::Audience {
                name: None,
                audience: Audience::Everyone
            }
        );
        assert_eq!(
            parse("audience ana approved").unwrap(),
            parse("AUDIENCE approved cameo:ana").unwrap()
        );
        assert_eq!(
            parse("allow <@!42>").unwrap(),
            CameoCommand::Allow {
                name: None,
                user: "<@!42>".into()
            }
        );
        assert_eq!(
            parse("restrict beach, red dress cameo:ana").unwrap(),
            CameoCommand::Restrict {
                name: Some("ana".into()),
                phrases: vec!["beach".into(), "red dress".into()]
            }
        );
        assert_eq!(
            parse("restrict beach swimsuit").unwrap(),
            CameoCommand::Restrict {
                name: None,
                phrases: vec!["beach".into(), "swimsuit".into()]
            }
        );
        assert_eq!(
            parse("restrict none").unwrap(),
            CameoCommand::Restrict {
                name: None,
                phrases: vec![]
            }
        );
        assert_eq!(
            parse("withdraw ana").unwrap(),
            CameoCommand::Withdraw {
                name: Some("ana".into())
            }
        );
    }

    #[test]
    fn bad_input_is_refused_with_what_to_type() {
        for bad in [
            "frobnicate",
            "register",
            "submit",
            "audience",
            "audience somebody",
            "approval maybe",
            "allow",
            "allow a b c",
            "status a b",
            "withdraw a cameo:b",
            "restrict",
            "status cameo:a cameo:b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_are_ids_or_mentions() {
        assert_eq!(user_id("discord", "<@123>").unwrap(), "123");
        assert_eq!(user_id("discord", "<@!123>").unwrap(), "123");
        assert_eq!(user_id("telegram", "42").unwrap(), "42");
        assert_eq!(user_id("terminal", "bob").unwrap(), "bob");
        for (platform, bad) in [
            ("telegram", "@bob"),
            ("discord", "<@abc>"),
            ("discord", "<#123>"),
            ("terminal", "a b"),
            ("terminal", ""),
        ] {
            assert!(user_id(platform, bad).is_err(), "{platform} {bad}");
        }
    }
}
