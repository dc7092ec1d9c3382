//! `ain-sre new NAME --runtime R`: writes a working function skeleton in `NAME/` (the runtime's
//! source file and a README saying how to invoke, deploy and call it), so an author starts from
//! code that already runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::config::runtimes::RuntimeCatalog;
use crate::onchain::check_label;

/// Arguments of `ain-sre new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The function's name: also its directory (unless --dir) and its `--fn` on deploy.
    pub name: String,
    /// Runtime: wasm, python3, nodejs, bash, perl or native (aliases too, as `runtimes list`
    /// shows them).
    #[arg(long, default_value = "python3")]
    pub runtime: String,
    /// Write into this directory instead of `./NAME`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// A runtime's skeleton: (file name, contents, executable).
fn template(runtime: &str, name: &str) -> Option<Vec<(&'static str, String, bool)>> {
    Some(match runtime {
        "wasm" => vec![(
            "main.wat",
            format!(
                ";; ain-sre function `{name}` (wasm, WebAssembly text): copies its input (stdin) to its\n;; output (stdout). Any language that compiles to wasm32-wasip1 works: replace this file by\n;; main.wasm (e.g. cargo build --release --target wasm32-wasip1).\n{}",
                super::dev::ECHO_WAT
                    .lines()
                    .skip_while(|l| l.starts_with(";;"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            false,
        )],
        "python3" => vec![("main.py", include_str!("templates/main.py").into(), false)],
        "nodejs" => vec![("main.js", include_str!("templates/main.js").into(), false)],
        "bash" => vec![("main.sh", include_str!("templates/main.sh").into(), true)],
        "perl" => vec![("main.pl", include_str!("templates/main.pl").into(), true)],
        "native" => vec![("main.c", include_str!("templates/main.c").into(), false)],
        _ => return None,
    })
}

/// The README written beside the code.
fn readme(name: &str, runtime: &str, dir: &Path) -> String {
    let d = dir.display();
    let build = if runtime == "native" {
        format!(
            "Build first (the worker runs only a static binary named `main`):\n\n    cd {d} && musl-gcc -static -O2 -o main main.c   # or gcc -static\n\n"
        )
    } else {
        String::new()
    };
    format!(
        "# {name} ({runtime})\n\nAn ain-sre function: its input arrives on stdin, what it prints on stdout is the call's\noutput; `SRE_FUNCTION`, `SRE_CALL_ID` and `SRE_CALLER` are in its environment.\n\n{build}Run it locally, as a worker would:\n\n    ain-sre invoke {d} --fn {name} --input '{{\"name\":\"ain\"}}'\n\nDeploy it to a running `ain-sre dev` (no key needed there; app `dev`) and call it:\n\n    ain-sre deploy {d} --fn {name}\n    ain-sre call --fn {name} --input '{{\"name\":\"ain\"}}' --wait\n\nOn another chain add `--app APP --keystore FILE` (the app admin's key) to deploy.\n"
    )
}

pub(crate) async fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_label("function name", &args.name)?;
    let catalog = RuntimeCatalog::shipped()?;
    let runtime = catalog.resolve(&args.runtime)?.name.clone();
    let Some(files) = template(&runtime, &args.name) else {
        bail!(
            "no template for runtime {runtime}: `new` writes wasm, python3, nodejs, bash, perl and native skeletons"
        );
    };
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} exists and is not empty: pick another name or --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, text, exec) in &files {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        if *exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        println!("wrote {}", path.display());
    }
    let text = readme(&args.name, &runtime, &dir);
    std::fs::write(dir.join("README.md"), &text)?;
    println!("wrote {}\n", dir.join("README.md").display());
    println!("{}", text.lines().skip(4).collect::<Vec<_>>().join("\n"));
    Ok(ExitCode::SUCCESS)
}
