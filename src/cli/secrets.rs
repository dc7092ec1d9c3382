//! `ain-sre secrets set|list|rm|sync`: a function's secrets, encrypted on chain to each approved
//! worker's key (and the admin's own), handed to calls as `SRE_SECRET_<NAME>`. Values are never
//! printed.

use std::process::ExitCode;

use anyhow::Context;

use super::common::{KeyArgs, NodeArgs};
use super::deploy::admin_client;
use crate::onchain::AppPaths;
use crate::secrets::client as secrets;

/// Arguments of `ain-sre secrets`.
#[derive(Debug, clap::Args)]
pub struct SecretsArgs {
    /// What to do.
    #[command(subcommand)]
    action: SecretsAction,
    /// App name (default against a dev chain: `dev`).
    #[arg(long, global = true)]
    app: Option<String>,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    key: KeyArgs,
}

/// `ain-sre secrets` actions.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SecretsAction {
    /// Encrypt values for the function's calls: `NAME=value` or `NAME=@file` (repeatable).
    /// Calls get them as `SRE_SECRET_<NAME>`; values must be UTF-8.
    Set {
        /// The function.
        #[arg(long = "fn")]
        function: String,
        /// `NAME=value` or `NAME=@file`.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// The function's secret names and which keys hold a copy (never the values).
    List {
        /// The function.
        #[arg(long = "fn")]
        function: String,
    },
    /// Delete a secret for every holder.
    Rm {
        /// The function.
        #[arg(long = "fn")]
        function: String,
        /// The secret's name.
        name: String,
    },
    /// Encrypt every function's secrets for approved, registered workers that lack a copy (after
    /// `workers add` once the worker has registered; `workers add` runs it too).
    Sync,
}

pub(crate) async fn run(args: SecretsArgs) -> anyhow::Result<ExitCode> {
    let (client, dev_chain) = admin_client(&args.node.node, &args.key, "secrets").await?;
    let app_name = super::common::app_or_dev(args.app.clone(), dev_chain, &args.node.node)?;
    let app = AppPaths::new(&app_name)?;
    match args.action {
        SecretsAction::Set { function, pairs } => {
            let pairs = pairs
                .iter()
                .map(|p| parse_pair(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let holders = secrets::set(&client, &app, &function, &pairs).await?;
            let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
            println!(
                "set {} for {app_name}/{function}, encrypted to {} key(s): {}",
                names.join(", "),
                holders.len(),
                holders
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        SecretsAction::List { function } => {
            let listed = secrets::list(&client, &app, &function).await?;
            if listed.is_empty() {
                println!("{app_name}/{function} has no secrets");
            }
            for (name, holders) in listed {
                println!(
                    "{name}: {} cop{} ({})",
                    holders.len(),
                    if holders.len() == 1 { "y" } else { "ies" },
                    holders
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        SecretsAction::Rm { function, name } => {
            secrets::rm(&client, &app, &function, &name).await?;
            println!("removed {name} from {app_name}/{function}");
        }
        SecretsAction::Sync => {
            let n = secrets::sync(&client, &app).await?;
            println!(
                "wrote {n} cop{} for workers that lacked them",
                if n == 1 { "y" } else { "ies" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME=value` or `NAME=@file` (a trailing newline of the file is dropped).
fn parse_pair(p: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = p.split_once('=').with_context(|| {
        format!(
            "expected NAME=value or NAME=@file, got `{}`",
            p.split('=').next().unwrap_or("")
        )
    })?;
    crate::secrets::store::check_name(name).map_err(anyhow::Error::msg)?;
    let value = match value.strip_prefix('@') {
        Some(f) => {
            let bytes = std::fs::read(f).with_context(|| format!("reading {f}"))?;
            let mut s =
                String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{f} is not UTF-8"))?;
            if s.ends_with('\n') {
                s.pop();
            }
            s
        }
        None => value.to_owned(),
    };
    Ok((name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_without_echoing_values() {
        assert_eq!(
            parse_pair("API_KEY=a=b").unwrap(),
            ("API_KEY".into(), "a=b".into())
        );
        let e = parse_pair("lower=x").unwrap_err().to_string();
        assert!(e.contains("secret name"), "{e}");
        let e = parse_pair("NOEQUALS").unwrap_err().to_string();
        assert!(e.contains("NAME=value"), "{e}");
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), "from-file\n").unwrap();
        let arg = format!("K=@{}", f.path().display());
        assert_eq!(parse_pair(&arg).unwrap().1, "from-file");
    }
}
