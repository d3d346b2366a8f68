//! `bloodshot`: the console (no subcommand) and the headless CLI.

mod cli;
#[cfg(feature = "console")]
mod tui;

use clap::Parser;

use cli::{Cli, Command};

fn main() {
    // One malloc arena for all threads, before any starts (see bloodshot::memory).
    bloodshot::memory::init();
    let args = Cli::parse();
    // Pin burn's fall-back device to what the user chose (never a GPU picked blindly).
    let device = match &args.command {
        Some(Command::Train(t)) => t.device.unwrap_or_default(),
        Some(Command::Kshot(k)) => k.device,
        Some(Command::Bench(b)) => b.device,
        Some(Command::Tui(t)) => t.device.unwrap_or_default(),
        _ => Default::default(),
    };
    if let Some(Command::Train(t)) = &args.command
        && let Some(level) = &t.autotune
    {
        // SAFETY: single-threaded here, before any thread is spawned.
        unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", level) };
    }
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: single-threaded here, before any thread is spawned.
        unsafe { std::env::set_var("BURN_DEVICE", bloodshot::device::burn_device_env(device)) };
    }
    let runs = args.runs_dir.clone();
    let result = match args.command {
        Some(Command::Stats(a)) => cli::commands::stats(a),
        Some(Command::Train(a)) => cli::commands::train_cmd(a, &runs),
        Some(Command::Kshot(a)) => cli::commands::kshot(a, &runs),
        Some(Command::Export(a)) => cli::commands::export(a, &runs),
        Some(Command::Import(a)) => cli::commands::import(a, &runs),
        Some(Command::ExportWeights(a)) => cli::commands::export_weights(a, &runs),
        Some(Command::Sweep(a)) => cli::sweep::sweep(*a, &runs),
        Some(Command::Devices(a)) => cli::commands::devices(a),
        Some(Command::Bench(a)) => cli::commands::bench(a),
        Some(Command::SampleData(a)) => cli::commands::sample_data(a),
        Some(Command::Completions(a)) => cli::manual::completions(a),
        Some(Command::Man(a)) => cli::manual::man(a),
        Some(Command::Tui(a)) => console(a, runs),
        None => console(Default::default(), runs),
    };
    if let Err(e) = result {
        eprintln!("bloodshot: {e}");
        std::process::exit(1);
    }
}

/// Opens the console; without a terminal, prints the statistics and where to go instead.
#[cfg(feature = "console")]
fn console(a: cli::TuiArgs, runs_dir: Option<std::path::PathBuf>) -> Result<(), String> {
    let opts = tui::Options {
        base: a.base.clone(),
        target: a.target.clone(),
        device: a.device,
        runs_dir,
    };
    match tui::run(opts) {
        Err(e @ tui::ConsoleError::NotATerminal) => {
            eprintln!("bloodshot: {e}");
            cli::commands::stats(cli::StatsArgs {
                base: a.base,
                target: a.target,
                min_class_size: bloodshot::data::DEFAULT_MIN_CLASS_SIZE,
                json: false,
            })
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// A build without the `console` feature is the headless CLI only.
#[cfg(not(feature = "console"))]
fn console(_: cli::TuiArgs, _: Option<std::path::PathBuf>) -> Result<(), String> {
    Err("this build has no console (built without the `console` feature); use the headless commands (bloodshot stats | train | kshot | export, see bloodshot --help), or rebuild with default features".into())
}
