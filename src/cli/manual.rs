//! Shell completions and man pages, generated from the same clap definitions the commands
//! parse with (so they cannot drift from `--help`).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::{Cli, CompletionsArgs, ManArgs};

/// `bloodshot completions SHELL`: the script on stdout.
pub fn completions(a: CompletionsArgs) -> Result<(), String> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "bloodshot", &mut out);
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| format!("cannot write the completion script: {e}"))
}

/// `bloodshot man [--dir DIR]`: the main page on stdout, or every page into `DIR`.
pub fn man(a: ManArgs) -> Result<(), String> {
    let cmd = Cli::command();
    let Some(dir) = a.dir else {
        let mut out = Vec::new();
        render(&cmd, &mut out)?;
        return std::io::stdout()
            .write_all(&out)
            .map_err(|e| format!("cannot write the man page: {e}"));
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the man page folder {}: {e}", dir.display()))?;
    let written = write_pages(&cmd, &dir)?;
    eprintln!("wrote {written} man pages to {}", dir.display());
    Ok(())
}

/// Writes the page of `cmd` and of each visible subcommand (`bloodshot-train.1`, …); returns
/// how many pages were written.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<usize, String> {
    let mut pages = vec![(String::from("bloodshot"), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("bloodshot-{}", sub.get_name());
        // The page's title and synopsis name the full command (`bloodshot-train`).
        let mut page = sub.clone().name(name.clone());
        if let Some(version) = cmd.get_version() {
            page = page.version(version.to_string());
        }
        pages.push((name, page));
    }
    for (name, page) in &pages {
        let mut out = Vec::new();
        render(page, &mut out)?;
        let path = dir.join(format!("{name}.1"));
        bloodshot::files::write_atomic(&path, &out)
            .map_err(|e| format!("cannot write the man page {}: {e}", path.display()))?;
    }
    Ok(pages.len())
}

fn render(cmd: &clap::Command, out: &mut Vec<u8>) -> Result<(), String> {
    clap_mangen::Man::new(cmd.clone())
        .render(out)
        .map_err(|e| format!("cannot render the man page of {}: {e}", cmd.get_name()))
}
