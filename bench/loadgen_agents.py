"""bench/loadgen's distributed section: one closed-model test split across
load agents (`agents = N`) against the same nginx, 1 agent then 2.

It starts a `shakedown serve` on loopback (a temporary data folder,
SQLite, local mode so the run can be launched without a login), creates
an agent account and its API token with `shakedown user add` and `token
add` on that folder, starts N `shakedown agent` processes (the token in
their environment), launches the run through the server's `start_run`,
waits for it to end and reads its results.json. Printed: the merged
requests/s, the agents' requests each, and CPU per request, the agents'
own utime+stime (from /proc, across the run) divided by the merged
requests. Nothing is asserted. Every process is bounded in time and
stopped at the end; traffic goes to loopback only.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

PLAN = """\
# bench/loadgen's distributed section: {agents} agent(s) share one
# closed-model load against the benchmark's nginx.
[plan]
name = "bench-agents-{agents}"
title = "Load generator benchmark, closed model on {agents} agent(s)"

[environments.bench]
base_url = "http://127.0.0.1:{port}"
allowed_hosts = ["127.0.0.1"]

[[tests]]
id = "agents"
title = "GET a small static file, closed model, on load agents"
[tests.http_load]
method = "GET"
path = "{path}"
concurrency = {concurrency}
duration_s = {duration}
agents = {agents}
"""

# Longest the agents take to register, claim, get ready and start (the
# server waits 60 s for them) plus the margin past the load's end.
RUN_SLACK_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    """utime+stime of a process from /proc/PID/stat, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def http(method, url, body=None, headers=None, timeout=10):
    """(status, text) of one request; status 0 when nothing answered."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError):
        return 0, ""


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Cluster:
    """A `shakedown serve` on loopback with a temporary data folder and an
    agent account's token."""

    def __init__(self, binary, work, pin_server, log):
        self.binary = binary
        self.work = work
        self.data = os.path.join(work, "data")
        self.plans = os.path.join(work, "plans")
        os.makedirs(self.data)
        os.makedirs(self.plans)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = self._agent_token()
        self.log_path = os.path.join(work, "serve.log")
        cmd = [binary, "serve", "--addr", f"127.0.0.1:{self.port}", "--data-dir", self.data,
               "--plans-dir", self.plans, "--site-root", os.path.join(self.data, "site"),
               "--local-mode"]
        self.proc = subprocess.Popen(pin_server + cmd, stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while http("GET", f"{self.base}/readyz", timeout=2)[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"shakedown serve did not get ready: {self.log_tail()}")
            time.sleep(0.1)
        log(f"serve on {self.base}")

    def _shakedown(self, args, stdin=""):
        r = subprocess.run([self.binary, *args, "--data-dir", self.data], input=stdin.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           check=False)
        if r.returncode != 0:
            raise RuntimeError(f"shakedown {' '.join(args)}: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode().strip()

    def _agent_token(self):
        self._shakedown(["user", "add", "benchagents", "--role", "agent"],
                        "a long enough password\n")
        return self._shakedown(["token", "add", "--user", "benchagents", "--label", "bench"])

    def log_tail(self):
        try:
            with open(self.log_path) as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            return ""

    def start_agents(self, n, pin_agents):
        env = dict(os.environ, SHAKEDOWN_AGENT_TOKEN=self.token)
        agents = []
        for i in range(n):
            log = open(os.path.join(self.work, f"agent-{n}-{i}.log"), "w")
            agents.append(subprocess.Popen(
                pin_agents + [self.binary, "agent", "--server", self.base, "--name", f"a{i}"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        return agents

    def launch(self, plan_file):
        status, text = http("POST", f"{self.base}/api/start_run",
                            {"request": {"plan": {"File": plan_file}}},
                            {"Content-Type": "application/json", "Accept": "application/json",
                             "Origin": self.base}, timeout=20)
        try:
            answer = json.loads(text)
        except ValueError:
            raise RuntimeError(f"start_run answered {status}: {text[:200]}")
        if "Ok" not in answer:
            raise RuntimeError(f"start_run refused: {text[:300]}")
        return answer["Ok"]["id"]

    def results(self, run_id, limit_s):
        """results.json of the run once it ended; None past `limit_s`."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            status, text = http("GET", f"{self.base}/api/runs/{run_id}", timeout=5)
            if status == 200 and json.loads(text).get("status") not in ("queued", "running"):
                status, text = http("GET", f"{self.base}/api/runs/{run_id}/evidence/results.json")
                return json.loads(text) if status == 200 else None
            time.sleep(0.25)
        return None

    def close(self):
        stop(self.proc)


def one(cluster, n, pin_agents, concurrency, duration, nginx_port, path):
    """One run on `n` agents: (merged requests, req/s, agents' CPU seconds,
    requests per agent, problem or None)."""
    plan_file = f"agents-{n}.toml"
    with open(os.path.join(cluster.plans, plan_file), "w") as f:
        f.write(PLAN.format(agents=n, port=nginx_port, path=path, concurrency=concurrency,
                            duration=duration))
    agents = cluster.start_agents(n, pin_agents)
    try:
        cpu0 = [proc_cpu_seconds(a.pid) for a in agents]
        run_id = cluster.launch(plan_file)
        results = cluster.results(run_id, duration + RUN_SLACK_S)
        cpu1 = [proc_cpu_seconds(a.pid) for a in agents]
    finally:
        for a in agents:
            stop(a)
    if results is None:
        return 0, 0.0, None, [], f"run {run_id} did not end in time: {cluster.log_tail()}"
    test = results["tests"][0]
    m = test.get("metrics") or {}
    shares = [int(r.get("requests", 0)) for r in test.get("agents") or []]
    cpu = None
    if None not in cpu0 and None not in cpu1:
        cpu = sum(b - a for a, b in zip(cpu0, cpu1))
    problem = None
    if test.get("status") != "PASS" or not m.get("requests"):
        problem = f"test {test.get('status')}: {test.get('error') or 'no requests'}"
    return int(m.get("requests", 0)), float(m.get("rps", 0.0)), cpu, shares, problem


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def section(ctx, concurrency, duration, repeat, say, broken, log):
    """Runs the section and prints it; broken runs go to `broken`.
    `ctx.pin` is (server core, agents' core) or None."""
    pin_server = ["taskset", "-c", str(ctx.pin[0])] if ctx.pin else []
    pin_agents = ["taskset", "-c", str(ctx.pin[1])] if ctx.pin else []
    say()
    say(f"== distributed: 1 and 2 load agents sharing {concurrency} connections "
        f"(closed model, {duration}s, median of {repeat}) ==")
    if ctx.pin:
        say(f"serve and nginx on core {ctx.pin[0]}, the agents on core {ctx.pin[1]} "
            "(on one core, 2 agents show what splitting costs, not more capacity)")
    work = tempfile.mkdtemp(prefix="loadgen-agents-")
    try:
        cluster = Cluster(ctx.binary, work, pin_server, log)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
        broken.append(f"distributed: {e}")
        shutil.rmtree(work, ignore_errors=True)
        return
    try:
        runs = {1: [], 2: []}
        for rnd in range(repeat):
            for n in ((1, 2) if rnd % 2 == 0 else (2, 1)):
                log(f"round {rnd + 1}/{repeat}: {n} agent(s)")
                try:
                    r = one(cluster, n, pin_agents, concurrency, duration, ctx.port, ctx.path)
                except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
                    r = (0, 0.0, None, [], str(e))
                if r[4]:
                    broken.append(f"distributed, {n} agent(s): {r[4]}")
                else:
                    runs[n].append(r)
        say(f"{'agents':<8}{'req/s':>11}{'requests':>11}{'per agent':>22}{'agents CPU us/req':>19}")
        rows = {}
        for n in (1, 2):
            rps = median(r[1] for r in runs[n])
            cpu = median(r[2] * 1e6 / r[0] for r in runs[n] if r[2] is not None and r[0])
            last = runs[n][-1] if runs[n] else (0, 0.0, None, [], None)
            rows[n] = (rps, cpu)
            per = " + ".join(f"{s:,}" for s in last[3]) or "-"
            say(f"{n:<8}{'-' if rps is None else format(rps, ',.0f'):>11}{last[0]:>11,}"
                f"{per:>22}{'-' if cpu is None else format(cpu, '.2f'):>19}")
        (rps1, cpu1), (rps2, cpu2) = rows[1], rows[2]
        if rps1 and rps2 and cpu1 and cpu2:
            say(f"  2 agents/1 agent  req/s {rps2 / rps1:.2f}x   CPU/req {cpu2 / cpu1:.2f}x")
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
