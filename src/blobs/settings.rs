//! The `[blobs]` section of the worker config (`run --config`), and starting a worker's or a
//! built-in chain's blob store from it.
//!
//! ```toml
//! [blobs]
//! listen = "0.0.0.0:8082"          # serve a blob store (default: none; `dev` serves one)
//! public_url = "http://host:8082"  # how clients reach it (output_ref urls); default http://<listen>
//! dir = "/var/lib/ain-sre/blobs"   # default: <data_dir>/blobs
//! max_blob_mb = 256                # one blob
//! quota_mb = 4096                  # all blobs
//! per_key_quota_mb = 1024          # blobs uploaded by one key
//! retention_s = 86400              # kept this long after their last upload
//! inline_output_bytes = 4096       # longer outputs go to the store (output_ref)
//! fetch_allow = ["10.1.0.0/16"]    # networks input_ref urls may reach despite the SSRF rules
//! default_url = "http://store:8082" # where an input_ref without url is fetched
//! max_code_mb = 64                 # largest function code fetched by reference (code_ref)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::fetch::FetchConfig;
use super::server;
use super::store::{BlobStore, StoreConfig};
use super::worker::{OutputStore, WorkerBlobs};
use crate::netrules::AddressRules;

/// The `[blobs]` section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsFile {
    /// Serve a blob store here.
    pub listen: Option<SocketAddr>,
    /// How clients reach it.
    pub public_url: Option<String>,
    /// Its directory.
    pub dir: Option<PathBuf>,
    /// Largest blob, MiB.
    pub max_blob_mb: Option<u64>,
    /// All blobs, MiB.
    pub quota_mb: Option<u64>,
    /// Per uploading key, MiB.
    pub per_key_quota_mb: Option<u64>,
    /// Retention, seconds.
    pub retention_s: Option<u64>,
    /// Outputs longer than this are stored as blobs.
    pub inline_output_bytes: Option<usize>,
    /// Networks exempt from the address rules (CIDR).
    #[serde(default)]
    pub fetch_allow: Vec<String>,
    /// Base URL for an `input_ref` without `url`.
    pub default_url: Option<String>,
    /// Largest function code fetched by reference, MiB (default 64).
    pub max_code_mb: Option<u64>,
}

/// A started blob store.
#[derive(Debug, Clone)]
pub struct Served {
    /// The store.
    pub store: Arc<BlobStore>,
    /// The bound address.
    pub addr: SocketAddr,
    /// Its public base URL.
    pub public_base: String,
}

impl BlobsFile {
    /// The store's configuration, in `dir` unless the file names one.
    pub fn store_config(&self, default_dir: &Path) -> anyhow::Result<StoreConfig> {
        let mut c = StoreConfig::new(self.dir.clone().unwrap_or_else(|| default_dir.into()));
        let mb = |v: Option<u64>, key: &str, d: u64| -> anyhow::Result<u64> {
            match v {
                Some(0) => anyhow::bail!("blobs.{key} = 0: it must be at least 1"),
                Some(m) => Ok(m << 20),
                None => Ok(d),
            }
        };
        c.max_blob_bytes = mb(self.max_blob_mb, "max_blob_mb", c.max_blob_bytes)?;
        c.quota_bytes = mb(self.quota_mb, "quota_mb", c.quota_bytes)?;
        c.per_key_quota_bytes = mb(
            self.per_key_quota_mb,
            "per_key_quota_mb",
            c.per_key_quota_bytes,
        )?;
        if let Some(s) = self.retention_s {
            c.retention = Duration::from_secs(s);
        }
        Ok(c)
    }

    /// Opens and serves the store on `listen` until `cancel`.
    pub async fn serve(
        &self,
        listen: SocketAddr,
        default_dir: &Path,
        cancel: CancellationToken,
    ) -> anyhow::Result<Served> {
        let config = self.store_config(default_dir)?;
        let dir = config.dir.clone();
        let store = Arc::new(
            tokio::task::spawn_blocking(move || BlobStore::open(config))
                .await?
                .with_context(|| format!("opening the blob store in {}", dir.display()))?,
        );
        let addr = server::serve(listen, store.clone(), cancel)
            .await
            .with_context(|| format!("serving blobs on {listen}"))?;
        let public_base = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        Ok(Served {
            store,
            addr,
            public_base,
        })
    }

    /// [`BlobsFile::serve`] on `want`, or on a free port of the same host when `want` is taken
    /// (said on stderr): for `dev` and `devnet`, whose default port may be held by another one.
    pub async fn serve_or_any(
        &self,
        want: SocketAddr,
        default_dir: &Path,
        cancel: CancellationToken,
    ) -> anyhow::Result<Served> {
        match self.serve(want, default_dir, cancel.clone()).await {
            Ok(s) => Ok(s),
            Err(e) if want.port() != 0 => {
                crate::telemetry::status(&format!(
                    "warning: {e:#}; the blob store takes a free port instead"
                ));
                let any = SocketAddr::new(want.ip(), 0);
                self.serve(any, default_dir, cancel).await
            }
            Err(e) => Err(e),
        }
    }

    /// The worker's blob settings, with `served` as its own store when it serves one.
    pub fn worker(&self, served: Option<&Served>) -> anyhow::Result<WorkerBlobs> {
        let allow = self
            .fetch_allow
            .iter()
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| format!("blobs.fetch_allow: {n:?} is not a network"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut w = WorkerBlobs {
            fetch: FetchConfig {
                rules: AddressRules::new(allow),
                default_base: self
                    .default_url
                    .clone()
                    .or_else(|| served.map(|s| s.public_base.clone())),
                ..FetchConfig::default()
            },
            outputs: served.map(|s| OutputStore {
                store: s.store.clone(),
                public_base: s.public_base.clone(),
            }),
            ..WorkerBlobs::default()
        };
        if let Some(n) = self.inline_output_bytes {
            w.inline_output_bytes = n;
        }
        match self.max_code_mb {
            Some(0) => anyhow::bail!("blobs.max_code_mb = 0: it must be at least 1"),
            Some(m) => w.max_code_bytes = m << 20,
            None => {}
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_strictly_and_builds_the_settings() {
        let f: BlobsFile = toml::from_str(
            "listen = \"127.0.0.1:0\"\nquota_mb = 10\nper_key_quota_mb = 2\nretention_s = 60\n\
             fetch_allow = [\"10.0.0.0/8\", \"127.0.0.1\"]\ninline_output_bytes = 100\n\
             max_code_mb = 32\n",
        )
        .unwrap();
        let c = f.store_config(Path::new("/tmp/x")).unwrap();
        assert_eq!((c.quota_bytes, c.per_key_quota_bytes), (10 << 20, 2 << 20));
        assert_eq!(c.retention, Duration::from_secs(60));
        let w = f.worker(None).unwrap();
        assert_eq!(w.inline_output_bytes, 100);
        assert_eq!(w.max_code_bytes, 32 << 20);
        assert!(w.fetch.rules.check("10.9.9.9".parse().unwrap()).is_ok());
        assert!(w.fetch.rules.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(w.fetch.rules.check("192.168.0.1".parse().unwrap()).is_err());
        assert!(toml::from_str::<BlobsFile>("quota = 1").is_err());
        let bad: BlobsFile = toml::from_str("fetch_allow = [\"nope\"]").unwrap();
        assert!(bad.worker(None).is_err());
        let zero: BlobsFile = toml::from_str("quota_mb = 0").unwrap();
        assert!(zero.store_config(Path::new("/tmp")).is_err());
    }
}
