#!/usr/bin/env python3
"""Runs the rendered wasm overlay's worker pod as a Docker container, as close to the pod as Docker
gets, and has it answer a call: the StatefulSet's image args, its pod and container security
context (uid 10001, no capabilities, no privilege escalation, read-only root, /tmp and /data
writable), the ConfigMap's worker.toml at its mount path and a keystore plus password file at
the Secret's mount path, named for pod ain-sre-worker-0. Only what a cluster would supply
differs: the node is a devnet on loopback (--node/--events appended; flags win over the config)
and the metrics port is a free one. Kubernetes itself cannot run here.

    deploy/kubernetes/pod-test.py --image ain-sre:local --bin target/debug/ain-sre

Exits non-zero, with the container's log, on any failure.
"""
import argparse, json, os, random, shutil, socket, subprocess, sys, tempfile, time, urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ADMIN_KEY = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96"  # the devnet's public test key


def fail(msg):
    sys.exit(f"pod-test: FAIL: {msg}")


def free_port(taken=set()):
    """A loopback port free now, below the kernel's ephemeral range (so no outgoing connection
    takes it before the devnet or the pod binds it)."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(1000):
        port = random.randrange(10000, low)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    fail("no free loopback port below the ephemeral range")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="ain-sre:local")
    ap.add_argument("--bin", required=True, help="host ain-sre: devnet, keygen, deploy, call")
    a = ap.parse_args()
    rendered = subprocess.run(["kubectl", "kustomize", os.path.join(HERE, "overlays/wasm")],
                              check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    [cm] = [d for d in docs if d["kind"] == "ConfigMap"]
    [sts] = [d for d in docs if d["kind"] == "StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    [c] = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    psc, csc = pod["securityContext"], c["securityContext"]

    work = tempfile.mkdtemp(prefix="ain-sre-pod.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIN_SRE_")}
    env["AIN_SRE_LOG"] = "warn"
    devnet = None
    name = f"ain-sre-pod-test-{os.getpid()}"
    try:
        conf, keys = os.path.join(work, "config"), os.path.join(work, "keys")
        os.makedirs(conf)
        os.makedirs(keys)
        with open(os.path.join(conf, "worker.toml"), "w") as f:
            f.write(cm["data"]["worker.toml"])
        with open(os.path.join(keys, "password"), "w") as f:
            f.write("pod-test password\n")
        # The Secret's files: readable by the pod's fsGroup (defaultMode 0440), not the world.
        out = subprocess.run([a.bin, "keygen", "--light", "--out", os.path.join(keys, "ain-sre-worker-0.json"),
                              "--password-file", os.path.join(keys, "password")],
                             env=env, check=True, capture_output=True, text=True).stdout
        addr = next(w for w in out.split() if w.startswith("0x") and len(w) == 42)
        for p in (conf, keys):
            for f in os.listdir(p):
                os.chown(os.path.join(p, f), 0, psc["fsGroup"])
                os.chmod(os.path.join(p, f), 0o440)
            os.chmod(p, 0o755)

        rpc, events, metrics = free_port(), free_port(), free_port()
        node = f"http://127.0.0.1:{rpc}"
        devnet = subprocess.Popen([a.bin, "devnet", "--port", str(rpc), "--events-port", str(events)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "devnet.log"), "w"))
        for _ in range(30):
            if subprocess.run([a.bin, "workers", "list", "--app", "fleet", "--node", node], env=env,
                              capture_output=True).returncode == 0:
                break
            time.sleep(1)
        subprocess.run([a.bin, "deploy", os.path.join(REPO, "examples/functions/echo.wat"), "--app", "fleet",
                        "--fn", "echo", "--workers", addr, "--node", node],
                       env={**env, "AIN_SRE_PRIVATE_KEY": ADMIN_KEY}, check=True, capture_output=True)

        args = [x.replace("$(POD_NAME)", "ain-sre-worker-0") for x in c["args"]]
        args = [f"--metrics-addr=127.0.0.1:{metrics}" if x.startswith("--metrics-addr=") else x for x in args]
        args += [f"--node={node}", f"--events=ws://127.0.0.1:{events}"]
        run = ["docker", "run", "-d", "--name", name, "--network", "host",
               "--user", f"{psc['runAsUser']}:{psc['runAsGroup']}", "--group-add", str(psc["fsGroup"]),
               "-v", f"{conf}:{mounts['config']}:ro", "-v", f"{keys}:{mounts['keys']}:ro",
               "--tmpfs", f"{mounts['tmp']}:mode=1777",
               "--tmpfs", f"{mounts['data']}:uid={psc['runAsUser']},gid={psc['fsGroup']},mode=0770"]
        if csc.get("readOnlyRootFilesystem"):
            run.append("--read-only")
        if csc.get("allowPrivilegeEscalation") is False:
            run += ["--security-opt", "no-new-privileges"]
        run += [f"--cap-drop={cap}" for cap in csc.get("capabilities", {}).get("drop", [])]
        for e in c.get("env", []):
            if "value" in e:
                run += ["-e", f"{e['name']}={e['value']}"]
        subprocess.run(run + [a.image, *args], check=True, capture_output=True)

        health = f"http://127.0.0.1:{metrics}/healthz"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as r:
                    if json.load(r).get("status") == "ok":
                        break
            except OSError:
                pass
            running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                                     capture_output=True, text=True).stdout.strip()
            if running != "true":
                fail("the pod's container exited before /healthz answered")
            if time.time() > deadline:
                fail(f"the pod's /healthz ({health}) did not answer ok within 60 s")
            time.sleep(1)
        call = subprocess.run([a.bin, "call", "--app", "fleet", "--fn", "echo", "--input", '{"pod":0}',
                               "--wait", "--timeout", "30", "--node", node],
                              env=env, capture_output=True, text=True)
        if call.returncode != 0 or f"verified: writer {addr}" not in call.stdout + call.stderr \
                or '"output": "{\\"pod\\":0}"' not in call.stdout:
            fail(f"the pod did not answer a verified call:\n{call.stdout}{call.stderr}")
        print(f"pod-test: the rendered wasm worker pod (uid {psc['runAsUser']}, read-only root, no "
              f"capabilities, keystore from the Secret's mount) answered a verified call as {addr}")
    except BaseException:
        logs = subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True, text=True)
        sys.stderr.write(logs.stdout + logs.stderr)
        raise
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        if devnet:
            devnet.terminate()
            devnet.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
