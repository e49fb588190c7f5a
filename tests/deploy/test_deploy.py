#!/usr/bin/env python3
"""test_deploy.py - check the deployment files in deploy/ against the server.

No container engine runs here, so the files are parsed and checked for what
can go wrong silently:

  * every environment variable set for opstwin (compose, Dockerfile ENV,
    systemd Environment= and its EnvironmentFile template, commented examples
    included) is an option `opstwin serve --print-config` knows;
  * every port: opstwin's PORT/HOST against the compose port mapping, the
    Dockerfile's EXPOSE and HEALTHCHECK URL; each service URL's port against
    the port that service listens on (mosquitto.conf, Kafka's listeners,
    redis --port, PostgreSQL's default or PGPORT) and exposes;
  * the compose opstwin service's DATABASE_URL, REDIS_URL, MQTT_URL and
    KAFKA_BOOTSTRAP_SERVERS point at services defined in the file and active
    in that configuration (the `kafka` profile), with the database's
    credentials; evaluated once with deploy/env.example and once with only
    its required variables;
  * the Dockerfile is multi-stage on Debian 12, builds with make, installs
    the runtime package of every library the built binary needs, runs as a
    non-root user with a HEALTHCHECK on /health;
  * the systemd unit is hardened (DynamicUser or User, StateDirectory that
    is DATA_DIR, ProtectSystem, EnvironmentFile) and, where systemd-analyze
    exists, verifies and scores well.

Prints one line per check and ends with `N passed, M failed`; exit 1 when a
check failed. Usage: test_deploy.py [REPO_ROOT]  (OPSTWIN_BIN: the binary to
ask for its options; default ./opstwin, then build/asan/opstwin).
"""
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

import yaml

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")

passed = 0
failed = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {why}")
    return ok


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- the server's options -----------------------------------------------------------

def server_binary():
    for b in (os.environ.get("OPSTWIN_BIN"), os.path.join(ROOT, "opstwin"),
              os.path.join(ROOT, "build/asan/opstwin")):
        if b and os.access(b, os.X_OK):
            return b
    return None


def server_options(binary):
    """Environment names of `opstwin serve` and their defaults, from
    --print-config run in an empty folder with an empty environment."""
    with tempfile.TemporaryDirectory() as cwd:
        env = {"PATH": "/usr/bin:/bin", "ASAN_OPTIONS": "detect_leaks=0"}
        out = subprocess.run([binary, "serve", "--print-config"], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=30)
    opts = {}
    for line in out.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", k):
            opts[k] = v
    return opts


# --- compose interpolation ----------------------------------------------------------

INTERP = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class Missing(Exception):
    pass


def interpolate(s, env):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR, $$."""
    def repl(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        val = env.get(name)
        if op == ":-":
            return val if val else arg
        if op == "-":
            return val if val is not None else arg
        if op in (":?", "?"):
            if (op == ":?" and not val) or val is None:
                raise Missing(f"{name}: {arg}")
            return val
        return val or ""
    return INTERP.sub(repl, s)


def deep_interpolate(node, env):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [deep_interpolate(x, env) for x in node]
    if isinstance(node, dict):
        return {k: deep_interpolate(v, env) for k, v in node.items()}
    return node


def env_file(path, commented=False):
    """KEY=VALUE lines; with commented, also `# KEY=VALUE` examples."""
    out = {}
    for line in read(path).splitlines():
        s = line.strip()
        if commented and s.startswith("#"):
            s = s.lstrip("#").strip()
            if not re.match(r"[A-Z][A-Z0-9_]*=", s):
                continue
        if not s or s.startswith("#") or "=" not in s:
            continue
        if s.startswith("export "):
            s = s[7:]
        k, _, v = s.partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def as_dict(env):
    """A compose environment: mapping or list of KEY=VALUE."""
    if env is None:
        return {}
    if isinstance(env, dict):
        return {k: "" if v is None else str(v) for k, v in env.items()}
    d = {}
    for item in env:
        k, _, v = str(item).partition("=")
        d[k] = v
    return d


def port_mappings(ports):
    """(host_ip, host_port, container_port) of a compose `ports` list."""
    out = []
    for p in ports or []:
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), str(p.get("published", "")), str(p.get("target"))))
            continue
        s = str(p).split("/")[0]
        parts = s.rsplit(":", 2) if s.count(":") >= 2 else s.split(":")
        if len(parts) == 1:
            out.append(("", "", parts[0]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append((parts[0], parts[1], parts[2]))
    return out


# --- what each service listens on ------------------------------------------------------

def listening_port(name, svc, env):
    """The port a dependency service listens on inside the compose network."""
    image = svc.get("image", "")
    senv = as_dict(svc.get("environment"))
    if "timescale" in image or "postgres" in image:
        return int(senv.get("PGPORT", "5432"))
    if "redis" in image:
        cmd = svc.get("command") or []
        cmd = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
        return int(cmd[cmd.index("--port") + 1]) if "--port" in cmd else 6379
    if "mosquitto" in image:
        for vol in svc.get("volumes") or []:
            src, _, dst = str(vol).partition(":")
            if dst.split(":")[0] == "/mosquitto/config/mosquitto.conf":
                conf = os.path.normpath(os.path.join(DEPLOY, src))
                for line in read(conf).splitlines():
                    m = re.match(r"\s*listener\s+(\d+)", line)
                    if m:
                        return int(m.group(1))
        return 1883
    if "kafka" in image:
        adv = senv.get("KAFKA_ADVERTISED_LISTENERS", "")
        m = re.search(r"PLAINTEXT://([^:,]+):(\d+)", adv)
        if m:
            return int(m.group(2))
    return None


def exposed(svc):
    ports = {str(p).split("/")[0] for p in svc.get("expose") or []}
    ports |= {c for _, _, c in port_mappings(svc.get("ports"))}
    return ports


# --- compose checks -------------------------------------------------------------------

URL_VARS = {"DATABASE_URL": ("postgresql", "postgres"), "REDIS_URL": ("redis", "rediss"),
            "MQTT_URL": ("mqtt", "mqtts")}


def active(svc, profiles):
    p = svc.get("profiles")
    return not p or any(x in profiles for x in p)


def check_compose_context(label, raw, env, options):
    try:
        doc = deep_interpolate(raw, env)
    except Missing as e:
        check(f"compose[{label}]: interpolates", False, f"required variable unset: {e}")
        return
    services = doc.get("services", {})
    profiles = [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    ot = services.get("opstwin", {})
    oenv = as_dict(ot.get("environment"))
    deps = ot.get("depends_on") or {}
    deps = list(deps) if isinstance(deps, (list, dict)) else []
    for var, schemes in URL_VARS.items():
        url = oenv.get(var, "")
        name = f"compose[{label}]: opstwin {var}"
        if not check(f"{name} is set", url != "", "empty: the service would not be used"):
            continue
        u = urlsplit(url)
        host, port = u.hostname, u.port
        svc = services.get(host)
        check(f"{name} scheme", u.scheme in schemes, f"{u.scheme!r} not one of {schemes}")
        if not check(f"{name} host is a service", svc is not None,
                     f"{host!r} is not a service of the file ({sorted(services)})"):
            continue
        check(f"{name} host is active", active(svc, profiles),
              f"{host} is only in profile(s) {svc.get('profiles')}")
        check(f"{name} host in depends_on", host in deps, f"opstwin does not depend on {host}")
        lp = listening_port(host, svc, env)
        check(f"{name} port", port == lp, f"URL port {port}, {host} listens on {lp}")
        check(f"{name} port exposed", str(lp) in exposed(svc),
              f"{host} does not expose {lp} ({sorted(exposed(svc))})")
        if var == "DATABASE_URL":
            senv = as_dict(svc.get("environment"))
            check(f"{name} credentials", (u.username, u.password, u.path.lstrip("/")) ==
                  (senv.get("POSTGRES_USER"), senv.get("POSTGRES_PASSWORD"),
                   senv.get("POSTGRES_DB")),
                  f"user/password/db differ from {host}'s POSTGRES_USER/PASSWORD/DB")
    kb = oenv.get("KAFKA_BOOTSTRAP_SERVERS", "")
    name = f"compose[{label}]: opstwin KAFKA_BOOTSTRAP_SERVERS"
    for hp in [x.strip() for x in kb.split(",") if x.strip()]:
        host, _, port = hp.rpartition(":")
        svc = services.get(host)
        if not check(f"{name} {hp} is a service", svc is not None,
                     f"{host!r} is not a service of the file"):
            continue
        check(f"{name} {hp} is active", active(svc, profiles),
              f"{host} is only in profile(s) {svc.get('profiles')}, not in COMPOSE_PROFILES "
              f"{profiles}: the sink would wait for a broker that never starts")
        lp = listening_port(host, svc, env)
        check(f"{name} {hp} port", port.isdigit() and int(port) == lp,
              f"port {port}, {host} advertises {lp}")
        adv = as_dict(svc.get("environment")).get("KAFKA_ADVERTISED_LISTENERS", "")
        check(f"{name} {hp} advertised as the service name", f"//{host}:{lp}" in adv,
              f"KAFKA_ADVERTISED_LISTENERS {adv!r} does not name {host}:{lp}")
        lis = as_dict(svc.get("environment")).get("KAFKA_LISTENERS", "")
        check(f"{name} {hp} listener", f":{lp}" in lis, f"KAFKA_LISTENERS {lis!r}")
    return doc


def check_compose(options, docker_env):
    path = os.path.join(DEPLOY, "docker-compose.yml")
    raw = yaml.safe_load(read(path))
    services = raw.get("services", {})
    for s in ("opstwin", "timescaledb", "redis", "mosquitto", "kafka"):
        check(f"compose: service {s} defined", s in services, f"services: {sorted(services)}")
    if "opstwin" not in services:
        return
    check("compose: timescaledb image", str(services.get("timescaledb", {}).get("image", ""))
          .startswith("timescale/timescaledb"), "not a timescale/timescaledb image")
    check("compose: kafka only in profile kafka",
          services.get("kafka", {}).get("profiles") == ["kafka"],
          f"profiles: {services.get('kafka', {}).get('profiles')}")
    for s, svc in services.items():
        if s != "kafka":
            check(f"compose: {s} in the default profile", not svc.get("profiles"),
                  f"profiles {svc.get('profiles')}")
    ot = services["opstwin"]
    b = ot.get("build") or {}
    ctx = os.path.normpath(os.path.join(DEPLOY, b.get("context", ".")))
    check("compose: opstwin build context is the repository", ctx == ROOT, ctx)
    check("compose: opstwin build uses deploy/Dockerfile",
          os.path.normpath(os.path.join(ctx, b.get("dockerfile", "Dockerfile"))) ==
          os.path.join(DEPLOY, "Dockerfile"), str(b.get("dockerfile")))

    # environment names (raw: before interpolation, keys are literal)
    oenv_raw = as_dict(ot.get("environment"))
    for k in oenv_raw:
        check(f"compose: opstwin env {k} is an option", k in options,
              "opstwin does not read it (not in `opstwin serve --print-config`)")
    for s, svc in services.items():
        for dep in (svc.get("depends_on") or []):
            check(f"compose: {s} depends on defined {dep}", dep in services, "undefined")
        for vol in svc.get("volumes") or []:
            src = str(vol).split(":")[0]
            if not src.startswith((".", "/")):
                check(f"compose: volume {src} declared", src in (raw.get("volumes") or {}),
                      "not in top-level volumes")
            elif src.startswith("."):
                check(f"compose: {s} mounts existing {src}",
                      os.path.exists(os.path.join(DEPLOY, src)), "missing file")

    # opstwin's own port and address, with the Dockerfile's defaults
    example = env_file(os.path.join(DEPLOY, "env.example"))
    oenv = as_dict(deep_interpolate(ot.get("environment"), example))
    port = oenv.get("PORT", docker_env.get("PORT", options.get("PORT")))
    host = oenv.get("HOST", docker_env.get("HOST", options.get("HOST")))
    check("compose: opstwin HOST listens beyond the container's loopback",
          host in ("0.0.0.0", "::"), f"HOST={host}: published ports would not reach it")
    maps = port_mappings(ot.get("ports"))
    check("compose: opstwin publishes a port", len(maps) >= 1, "no ports")
    for hip, hport, cport in maps:
        check(f"compose: opstwin port mapping {hport}:{cport} targets PORT", cport == port,
              f"container port {cport}, opstwin listens on PORT={port}")
    data_dir = oenv.get("DATA_DIR", docker_env.get("DATA_DIR", options.get("DATA_DIR")))
    mounts = [str(v).split(":")[1] for v in ot.get("volumes") or [] if ":" in str(v)]
    check("compose: opstwin DATA_DIR is a volume", data_dir in mounts,
          f"DATA_DIR={data_dir}, mounts {mounts}")
    hc = services.get("opstwin", {}).get("healthcheck")
    if hc:
        t = " ".join(hc["test"]) if isinstance(hc["test"], list) else hc["test"]
        m = re.search(r"https?://[^/\s\"']+:(\d+)(/\S*)", t)
        check("compose: opstwin healthcheck port", m and m.group(1) == port, t)

    # each dependency's own healthcheck talks to its port
    for s, svc in services.items():
        hc = svc.get("healthcheck")
        lp = listening_port(s, svc, example)
        if hc and lp:
            t = " ".join(hc["test"]) if isinstance(hc["test"], list) else hc["test"]
            for p in re.findall(r"-p\s*(\d+)", t):
                check(f"compose: {s} healthcheck port", int(p) == lp, f"-p {p}, listens on {lp}")
        if s != "opstwin" and lp:
            check(f"compose: {s} exposes its port {lp}", str(lp) in exposed(svc),
                  f"exposes {sorted(exposed(svc))}")

    # env.example: every variable it sets is used by the compose file
    text = read(path)
    for k in example:
        check(f"env.example: {k} is used", k == "COMPOSE_PROFILES" or
              re.search(r"\$\{?" + k + r"\b", text) is not None,
              "docker-compose.yml does not refer to it")
    for name in set(re.findall(r"\$\{([A-Z0-9_]+):?\?", text)):
        check(f"env.example: required {name} present", name in example, "missing")

    # the documented configuration (env.example: Kafka on) and the minimal one
    check_compose_context("env.example", raw, example, options)
    required = {k: example[k] for k in set(re.findall(r"\$\{([A-Z0-9_]+):?\?", text))
                if k in example}
    check_compose_context("required only", raw, required, options)


# --- Dockerfile ---------------------------------------------------------------------------

def dockerfile_instructions(text):
    lines, cur = [], ""
    for line in text.splitlines():
        s = line.rstrip()
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if s.lstrip().startswith("#") and cur:
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        ins, _, args = cur.strip().partition(" ")
        lines.append((ins.upper(), args.strip()))
        cur = ""
    return lines


def parse_env_instr(args):
    toks = shlex.split(args)
    if toks and "=" not in toks[0]:
        return {toks[0]: " ".join(toks[1:])}
    return dict(t.split("=", 1) for t in toks)


def apt_packages(run):
    pk = []
    for part in re.split(r"&&|;", run):
        toks = part.split()
        if "apt-get" in toks and "install" in toks:
            pk += [t for t in toks[toks.index("install") + 1:] if not t.startswith("-")]
    return pk


def needed_packages(binary):
    """Debian packages of the shared libraries the binary links (direct)."""
    if not (shutil.which("readelf") and shutil.which("dpkg") and shutil.which("ldd")):
        return None
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout
    needed = re.findall(r"NEEDED.*\[(.+)\]", dyn)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = {}
    for lib in needed:
        if re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib) or lib.startswith(("libc.so", "libm.so")):
            continue
        p = paths.get(lib)
        if not p:
            continue
        for cand in (p, os.path.realpath(p), "/usr" + p if not p.startswith("/usr") else p):
            r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                pkgs[lib] = r.stdout.split(":")[0]
                break
    return pkgs


def check_dockerfile(options, release_binary):
    ins = dockerfile_instructions(read(os.path.join(DEPLOY, "Dockerfile")))
    stages, cur = [], None
    for i, a in ins:
        if i == "FROM":
            cur = {"from": a, "ins": []}
            stages.append(cur)
        elif cur is not None:
            cur["ins"].append((i, a))
    check("Dockerfile: multi-stage", len(stages) >= 2, f"{len(stages)} stage(s)")
    for st in stages:
        img = st["from"].split()[0]
        check(f"Dockerfile: {img} is Debian 12", re.match(r"debian:(12|bookworm)", img) is not None,
              "not debian:12 / bookworm")
    if len(stages) < 2:
        return {}
    build, final = stages[0], stages[-1]
    # the build context (the repository) keeps what `make` needs
    ignore = os.path.join(ROOT, ".dockerignore")
    pats = [p.strip().rstrip("/") for p in (read(ignore).splitlines() if os.path.exists(ignore)
                                           else []) if p.strip() and not p.startswith("#")]
    for need in ("Makefile", "VERSION", "src", "scripts", "schemas", "docs", "bench"):
        hit = [p for p in pats if fnmatch.fnmatch(need, p)]
        check(f".dockerignore keeps {need}", not hit, f"excluded by {hit}")
    check("Dockerfile: build stage copies the source tree",
          any(i == "COPY" and a.split()[0] == "." for i, a in build["ins"]), "no COPY . ...")
    runs = " ".join(a for i, a in build["ins"] if i == "RUN")
    check("Dockerfile: build stage runs make", re.search(r"\bmake\b", runs) is not None, runs)
    deps = read(os.path.join(ROOT, "scripts/deps.sh"))
    m = re.search(r'BUILD="([^"]*)"', deps)
    want = m.group(1).split() if m else []
    have = apt_packages(runs)
    for p in want:
        check(f"Dockerfile: build stage installs {p}", p in have, "missing (scripts/deps.sh BUILD)")
    env = {}
    for i, a in final["ins"]:
        if i == "ENV":
            env.update(parse_env_instr(a))
    for k in env:
        check(f"Dockerfile: ENV {k} is an option", k in options, "opstwin does not read it")
    port = env.get("PORT", options.get("PORT"))
    check("Dockerfile: HOST listens beyond the container's loopback",
          env.get("HOST", options.get("HOST")) in ("0.0.0.0", "::"), f"HOST={env.get('HOST')}")
    expose = [a.split("/")[0] for i, a0 in final["ins"] if i == "EXPOSE" for a in a0.split()]
    check("Dockerfile: EXPOSE is PORT", expose == [port], f"EXPOSE {expose}, PORT={port}")
    hcs = [a for i, a in final["ins"] if i == "HEALTHCHECK"]
    if check("Dockerfile: HEALTHCHECK", len(hcs) == 1, f"{len(hcs)} HEALTHCHECK"):
        cmd = interpolate(hcs[0], env)
        m = re.search(r"https?://([^/:\s\"']+):(\d+)(/[^\s\"']*)", cmd)
        check("Dockerfile: HEALTHCHECK URL", m is not None, cmd)
        if m:
            check("Dockerfile: HEALTHCHECK port is PORT", m.group(2) == port,
                  f"{m.group(2)} != PORT {port}")
            check("Dockerfile: HEALTHCHECK path /health", m.group(3) == "/health", m.group(3))
            check("Dockerfile: HEALTHCHECK on loopback", m.group(1) in ("127.0.0.1", "localhost"),
                  m.group(1))
    users = [a for i, a in final["ins"] if i == "USER"]
    check("Dockerfile: runs as a non-root user",
          bool(users) and users[-1].split(":")[0] not in ("root", "0"), f"USER {users}")
    vols = " ".join(a for i, a in final["ins"] if i == "VOLUME")
    check("Dockerfile: DATA_DIR is a VOLUME", env.get("DATA_DIR", "") in vols,
          f"DATA_DIR={env.get('DATA_DIR')}, VOLUME {vols}")
    ep = " ".join(a for i, a in final["ins"] if i in ("ENTRYPOINT", "CMD"))
    check("Dockerfile: starts `opstwin serve`", "opstwin" in ep and "serve" in ep, ep)
    final_runs = " ".join(a for i, a in final["ins"] if i == "RUN")
    rt = apt_packages(final_runs)
    if "curl" in hcs[0] if hcs else False:
        check("Dockerfile: runtime has curl for the HEALTHCHECK", "curl" in rt, str(rt))
    pk = needed_packages(release_binary) if release_binary else None
    if pk is None:
        print("skip Dockerfile: runtime libraries (readelf/ldd/dpkg not available)")
    else:
        for lib, p in sorted(pk.items()):
            check(f"Dockerfile: runtime installs {p} ({lib})", p in rt,
                  f"the binary needs {lib}; runtime stage installs {rt}")
    return env


# --- systemd -------------------------------------------------------------------------------

def unit_file(text):
    sec, out = None, {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        if s.startswith("["):
            sec = s.strip("[]")
            out.setdefault(sec, [])
            continue
        k, _, v = s.partition("=")
        out[sec].append((k.strip(), v.strip()))
    return out


def check_systemd(options, binary):
    path = os.path.join(DEPLOY, "opstwin.service")
    u = unit_file(read(path))
    svc = u.get("Service", [])
    get = lambda k: [v for kk, v in svc if kk == k]  # noqa: E731
    one = lambda k: (get(k) or [""])[-1]  # noqa: E731
    ex = shlex.split(one("ExecStart"))
    check("systemd: ExecStart runs `opstwin serve`",
          ex and ex[0].startswith("/") and ex[0].endswith("/opstwin") and "serve" in ex[1:],
          one("ExecStart"))
    check("systemd: unprivileged user",
          one("DynamicUser") in ("yes", "true", "1") or one("User") not in ("", "root", "0"),
          "neither DynamicUser=yes nor a User")
    state = one("StateDirectory")
    check("systemd: StateDirectory", state != "", "missing")
    env = {}
    for e in get("Environment"):
        for t in shlex.split(e):
            k, _, v = t.partition("=")
            env[k] = v
    for k in env:
        check(f"systemd: Environment {k} is an option", k in options, "opstwin does not read it")
    ef = [x.lstrip("-") for x in get("EnvironmentFile")]
    check("systemd: EnvironmentFile", len(ef) >= 1, "missing")
    tmpl = env_file(os.path.join(DEPLOY, "opstwin.env"), commented=True)
    for k in tmpl:
        check(f"opstwin.env: {k} is an option", k in options, "opstwin does not read it")
    data_dir = tmpl.get("DATA_DIR", env.get("DATA_DIR", options.get("DATA_DIR")))
    check("systemd: DATA_DIR is the StateDirectory", data_dir == f"/var/lib/{state}",
          f"DATA_DIR={data_dir}, StateDirectory={state}")
    wd = one("WorkingDirectory")
    check("systemd: WorkingDirectory is the StateDirectory", wd in ("", f"/var/lib/{state}"), wd)
    check("systemd: ProtectSystem", one("ProtectSystem") in ("strict", "full", "yes"),
          one("ProtectSystem") or "missing")
    check("systemd: NoNewPrivileges", one("NoNewPrivileges") == "yes", "missing")
    check("systemd: SIGTERM stops it", one("KillSignal") in ("", "SIGTERM"), one("KillSignal"))
    port = env_file(os.path.join(DEPLOY, "opstwin.env")).get("PORT", options.get("PORT"))
    check("opstwin.env: PORT is a port", port.isdigit() and 0 < int(port) < 65536, port)
    if not shutil.which("systemd-analyze"):
        print("skip systemd: systemd-analyze not available")
        return
    with tempfile.TemporaryDirectory() as d:
        unit = read(path).replace(ex[0], binary or "/bin/true")
        p = os.path.join(d, "opstwin.service")
        with open(p, "w") as f:
            f.write(unit)
        r = subprocess.run(["systemd-analyze", "verify", p], capture_output=True, text=True,
                           timeout=60)
        msg = (r.stdout + r.stderr).strip()
        check("systemd: systemd-analyze verify", r.returncode == 0 and msg == "", msg)
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", p],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        if m:
            check("systemd: exposure level below 3.0", float(m.group(1)) < 3.0, m.group(1))


def main():
    binary = server_binary()
    if not check("server binary found", binary is not None,
                 "build it (make) or set OPSTWIN_BIN"):
        print(f"{passed} passed, {failed} failed")
        return 1
    options = server_options(binary)
    check("server options read", "PORT" in options and "HOST" in options,
          f"`{binary} serve --print-config` printed {sorted(options)}")
    release = os.path.join(ROOT, "opstwin")
    docker_env = check_dockerfile(options, release if os.access(release, os.X_OK) else binary)
    check_compose(options, docker_env or {})
    check_systemd(options, binary)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
