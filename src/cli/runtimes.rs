//! `ain-sre runtimes`: list the runtimes, and build the container tier's runtime images from this
//! host's own files (no registry), with a progress bar per image.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::config::runtimes::RuntimeCatalog;
use crate::sandbox::container::Engine;
use crate::sandbox::container::image::{self, BuildEvent};

/// Arguments of `ain-sre runtimes`.
#[derive(Debug, clap::Args)]
pub struct RuntimesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RuntimesCommand,
}

/// `ain-sre runtimes` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RuntimesCommand {
    /// List the runtimes: tiers, command and container image.
    List,
    /// Build runtime images offline from host files and import them into the Docker engine
    /// (default: every runtime that has a recipe in runtimes/images/).
    Build {
        /// Runtime names (or aliases).
        names: Vec<String>,
    },
}

pub(crate) async fn run(args: RuntimesArgs) -> anyhow::Result<ExitCode> {
    let cat = RuntimeCatalog::shipped()?;
    match args.command {
        RuntimesCommand::List => {
            for r in cat.iter() {
                let tiers: Vec<_> = r.tiers.iter().map(|t| t.as_str()).collect();
                let aliases = if r.aliases.is_empty() {
                    "-".to_owned()
                } else {
                    r.aliases.join(",")
                };
                println!(
                    "{:<8} aliases={:<17} tiers={:<18} image={:<20} command={}",
                    r.name,
                    aliases,
                    tiers.join(","),
                    r.image.as_deref().unwrap_or("-"),
                    r.command.join(" ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RuntimesCommand::Build { names } => build(&cat, names).await,
    }
}

async fn build(cat: &RuntimeCatalog, names: Vec<String>) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = if names.is_empty() {
        image::buildable().map(str::to_owned).collect()
    } else {
        names
    };
    let mut rts = Vec::new();
    for n in &names {
        let rt = cat.resolve(n)?;
        if image::recipe(&rt.name).is_none() {
            bail!(
                "runtime `{}` has no offline image recipe (runtimes/images/<name>/rootfs.txt)",
                rt.name
            );
        }
        rts.push(rt);
    }
    let engine = Engine::connect().await.context("the Docker engine")?;
    if let Some(w) = engine.runc_warning() {
        eprintln!("warning: {w}");
    }
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {bytes:>10}/{total_bytes:<10} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let mut failed = false;
    // One image at a time: assembly reads hundreds of MB and the engine imports serially anyway.
    for rt in rts {
        let image_name = rt.image.clone().unwrap_or_default();
        let bar = multi.add(ProgressBar::new(0));
        bar.set_style(style.clone());
        bar.set_prefix(rt.name.clone());
        bar.set_message("collecting host files");
        bar.enable_steady_tick(Duration::from_millis(200));
        let b = bar.clone();
        let r = image::build(&engine.docker, &rt, move |ev| match ev {
            BuildEvent::Collected { files, bytes } => {
                b.set_length(bytes);
                b.set_position(bytes);
                b.set_message(format!("collecting host files ({files})"));
            }
            BuildEvent::Assembled { total } => {
                b.set_length(total);
                b.set_position(0);
                b.set_message("importing");
            }
            BuildEvent::Uploaded { sent } => b.set_position(sent),
            BuildEvent::Done => {}
        })
        .await;
        // Without a terminal the bars are hidden: say what happened in plain lines instead.
        let plain = bar.is_hidden();
        match r {
            Ok(()) => {
                bar.finish_with_message(format!("built {image_name}"));
                if plain {
                    println!("{}: built {image_name}", rt.name);
                }
            }
            Err(e) => {
                failed = true;
                bar.abandon_with_message(format!("FAILED: {e}"));
                if plain {
                    println!("{}: FAILED: {e}", rt.name);
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
