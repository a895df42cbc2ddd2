//! User text inside the bot's public messages: Discord renders markdown,
//! masked links (`[free nitro](https://…)`) and mentions in message content,
//! so a prompt quoted in a caption is escaped to show as typed.

/// Backslash-escapes every character Discord's markdown gives a meaning.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '~'
                | '`'
                | '|'
                | '>'
                | '<'
                | '#'
                | '-'
                | '['
                | ']'
                | '('
                | ')'
                | '@'
                | ':'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_links_and_markdown_show_as_typed() {
        assert_eq!(
            escape("[free nitro](https://x.example)"),
            r"\[free nitro\]\(https\://x.example\)"
        );
        assert_eq!(
            escape("**bold** ~~s~~ ||spoiler||"),
            r"\*\*bold\*\* \~\~s\~\~ \|\|spoiler\|\|"
        );
        assert_eq!(escape("<@123> # title"), r"\<\@123\> \# title");
        assert_eq!(escape("a cat on a skateboard"), "a cat on a skateboard");
    }
}
