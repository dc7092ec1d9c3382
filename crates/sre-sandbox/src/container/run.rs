//! A call's run path on this tier: a container found (one kept for the same function, a stem
//! cell from the pool, or a new one), the call driven on it ([`super::call`]), then the container
//! parked for reuse or reaped.

use std::sync::Arc;
use std::time::Instant;

use crate::sync::LockExt;
use crate::{Invocation, NetworkPolicy, Outcome, SandboxError, Tier};

use super::call::Warm;
use super::park::Parked;
use super::spec::{Launch, Shape};
use super::{ContainerSandbox, Kind, PreparedContainer};
use super::{call, egress, pool, spec};

impl ContainerSandbox {
    pub(super) async fn call(
        &self,
        prepared: &Arc<PreparedContainer>,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        let started = Instant::now();
        let shape = Shape::of(&call.limits)?;
        let docker = &self.inner.engine.docker;
        let reuse = call.limits.reuse;
        let mut proxy = None;
        // The container's stdin is one framed buffer, so a file input is read into memory here
        // (the guest's own copy lives in the container, not in the worker).
        let input = call
            .input
            .to_bytes()
            .await
            .map_err(|e| SandboxError::Host {
                tier: Tier::Container,
                why: format!("reading the call's input: {e}"),
            })?;
        let (warm, stdin, nonce, park) = match &prepared.kind {
            Kind::Stem {
                image,
                argv,
                code,
                hash,
            } => {
                let key = pool::Key {
                    runtime: prepared.runtime.name.clone(),
                    image: image.clone(),
                    argv: argv.clone(),
                    shape,
                };
                let park_key = (key.clone(), *hash);
                let kept = reuse.and_then(|_| self.unpark(&park_key));
                let (warm, served) = match kept {
                    Some(p) => {
                        tracing::debug!(container = %p.warm.id, served = p.served, "kept container of the same function");
                        (p.warm, p.served)
                    }
                    None => match self.inner.pool.take(&key) {
                        Some(w) => {
                            tracing::debug!(container = %w.id, "stem cell from the pool");
                            (w, 0)
                        }
                        None => {
                            let lease = self.inner.guests.lease()?;
                            let body = spec::create_body(
                                &Launch::Stem {
                                    image: image.clone(),
                                    argv: argv.clone(),
                                },
                                shape,
                                &key.runtime,
                                &self.inner.who,
                                lease.uid(),
                                self.inner.cfg.max_code_bytes,
                                self.inner.cfg.oci_runtime.as_deref(),
                            );
                            (call::launch(docker, body, lease).await?, 0)
                        }
                    },
                };
                let nonce = hex::encode(rand::random::<[u8; 16]>());
                let mut env: Vec<(&str, &str)> = call.guest_env().collect();
                // Egress: the proxy in the container's own network namespace, serving until
                // `proxy` drops at the end of this call.
                if let NetworkPolicy::Proxy(e) = &call.limits.network {
                    match egress::open(docker, &warm.id, e).await {
                        Ok(p) => proxy = Some(p),
                        Err(err) => {
                            self.reap(warm.id, warm.lease);
                            return Err(err);
                        }
                    }
                }
                if let Some((_, vars)) = &proxy {
                    env.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                }
                // Ask the stem cell to stay only if this container may serve another call.
                let park = reuse
                    .filter(|r| served + 1 < r.max_calls)
                    .map(|r| (park_key, served + 1, r.idle));
                let stdin = call::frame(&nonce, &env, code, &input, park.is_some());
                (warm, stdin, Some(nonce), park)
            }
            Kind::Image { id, volumes, .. } => {
                if let NetworkPolicy::Proxy(_) = call.limits.network {
                    return Err(SandboxError::Rejected(
                        "egress is served to the shipped runtimes' stem cells; a bring-your-own image cannot have it yet".into(),
                    ));
                }
                let env = call.guest_env().map(|(k, v)| format!("{k}={v}")).collect();
                let lease = self.inner.guests.lease()?;
                let body = spec::create_body(
                    &Launch::Image {
                        image: id.clone(),
                        env,
                        volumes: volumes.clone(),
                    },
                    shape,
                    "image",
                    &self.inner.who,
                    lease.uid(),
                    self.inner.cfg.max_code_bytes,
                    self.inner.cfg.oci_runtime.as_deref(),
                );
                let warm = call::launch(docker, body, lease).await?;
                (warm, input.to_vec(), None, None)
            }
        };
        let Warm { id, attach, lease } = warm;
        tracing::debug!(container = %id, guest = lease.uid(), ms = started.elapsed().as_millis() as u64, "frame sent");
        let feed = call::Feed {
            stdin,
            nonce: nonce.as_deref(),
            keep: park.is_some(),
        };
        let out = call::drive(docker, &id, attach, feed, &call.limits, started).await;
        tracing::debug!(container = %id, ms = started.elapsed().as_millis() as u64, "call done");
        match out {
            Ok((outcome, Some(attach))) => {
                let warm = Warm { id, attach, lease };
                if let Some((key, served, idle)) = park
                    && !self.inner.stop.is_cancelled()
                {
                    self.inner
                        .parked
                        .lock_or_recover()
                        .entry(key)
                        .or_default()
                        .push(Parked {
                            warm,
                            served,
                            since: Instant::now(),
                            idle,
                        });
                } else {
                    self.reap(warm.id, warm.lease);
                }
                Ok(outcome)
            }
            Ok((outcome, None)) => {
                // The container has exited or been killed: nothing of the call runs any more.
                // Removing it (tens of ms in the engine) happens off the caller's path.
                self.reap(id, lease);
                Ok(outcome)
            }
            Err(e) => {
                self.reap(id, lease);
                Err(e)
            }
        }
    }
}
