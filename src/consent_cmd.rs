//! `reel consent …`: the operator's audit tools over the cameo registry —
//! walk the consent log's hash chain, export what is held about a person,
//! erase a person's cameos on request, and make a master key.

use std::path::PathBuf;

use anyhow::{bail, Context};
use reel::config::Config;
use reel::wiring::App;
use reel_consent::{CameoRegistry, ChainReport, MasterKey, Person};

#[derive(clap::Subcommand)]
pub enum ConsentCommand {
    /// Walk the consent log's hash chain; exits non-zero naming the first
    /// broken link.
    Verify,
    /// Everything held about a person, as JSON (an access request).
    Export {
        /// The person as PLATFORM:USER_ID, e.g. telegram:12345.
        person: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Erase every cameo a person registered (an erasure request): their
    /// keys and media are destroyed; the log keeps a tombstone.
    Erase {
        /// The person as PLATFORM:USER_ID.
        person: String,
        /// Who handles the request, for the log.
        #[arg(long)]
        operator: String,
    },
    /// Print a new random master key (base64) for REEL_MASTER_KEY or
    /// secrets.master_key_file. Keep it safe: without it no cameo's media
    /// can be read.
    NewMasterKey,
}

pub async fn run(config: Config, command: ConsentCommand) -> anyhow::Result<()> {
    if let ConsentCommand::NewMasterKey = command {
        println!("{}", MasterKey::generate().to_base64());
        return Ok(());
    }
    let app = App::open(config).await?;
    let registry = audit_registry(&app);
    match command {
        ConsentCommand::Verify => match registry.verify_chain().await? {
            ChainReport::Intact { events, head } => {
                println!(
                    "consent log intact: {events} events; head {}",
                    head.as_deref().unwrap_or("(empty log)")
                );
                Ok(())
            }
            ChainReport::Broken { seq, reason } => {
                bail!("the consent log is broken at event #{seq}: {reason}")
            }
        },
        ConsentCommand::Export { person, output } => {
            let person = parse_person(&person)?;
            let export = registry.export(&person).await?;
            let json = serde_json::to_string_pretty(&export)?;
            match output {
                Some(path) => std::fs::write(&path, json + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => println!("{json}"),
            }
            Ok(())
        }
        ConsentCommand::Erase { person, operator } => {
            let person = parse_person(&person)?;
            if operator.trim().is_empty() {
                bail!("--operator must name who handles the request");
            }
            let erased = registry.erase_person(&person, operator.trim()).await?;
            println!(
                "erased {erased} cameo(s) of {}:{}",
                person.platform, person.user_id
            );
            Ok(())
        }
        ConsentCommand::NewMasterKey => unreachable!("handled above"),
    }
}

/// The registry for audit commands. Verifying, exporting and erasing never
/// decrypt media (erasure destroys the wrapped keys unread), so they work
/// without the master key, e.g. for an auditor who must not hold it; a
/// throwaway key stands in then.
fn audit_registry(app: &App) -> CameoRegistry {
    app.cameos
        .clone()
        .unwrap_or_else(|| CameoRegistry::new(app.store.clone(), MasterKey::generate()))
}

fn parse_person(text: &str) -> anyhow::Result<Person> {
    match text.split_once(':') {
        Some((platform, user))
            if ["terminal", "telegram", "discord"].contains(&platform) && !user.is_empty() =>
        {
            Ok(Person::new(platform, user))
        }
        _ => bail!(
            "`{text}` is not a person: write PLATFORM:USER_ID with PLATFORM one of terminal, telegram, discord"
        ),
    }
}
