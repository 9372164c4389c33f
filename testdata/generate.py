"""Generate the bundled test tree: two clusters, old and new Sonar formats, a few days.

    python testdata/generate.py OUTDIR [--nodes N] [--days D] [--seed S] [--interval MIN]

Writes a Jobanalyzer store under OUTDIR: `cluster-config/` (aliases and one
config per cluster) and `data/<cluster>/YYYY/MM/DD/` files.  `alpha` uses the
old formats (free-CSV samples with local-time +01:00 stamps, concatenated
sysinfo JSON, `slurm-sacct.csv`); `beta` uses the new JSON-lines envelopes
(UTC stamps).  Jobs are scheduled first, then samples and Slurm records are
derived from the same schedule, so the tables agree with each other: a
job's CPU time in Slurm is what its processes' counters add up to, and its
memory high-water mark is what its processes' resident memory sums to at
the sample half-way through it.  `OUTDIR/truth.csv` records each job's
allocation and true CPU seconds and peak memory, to check efficiency
figures against.  The output depends only on the arguments.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

START = datetime(2025, 3, 3, tzinfo=UTC)
LOCAL = timezone(timedelta(hours=1))
USERS = ["alice", "bob", "carol", "dave", "erin"]
ACCOUNTS = {"alice": "proj1", "bob": "proj1", "carol": "proj2", "dave": "proj2", "erin": "proj3"}
COMMANDS = ["python", "pmemd.cuda", "gmx_mpi", "R", "julia", "bwa"]
PEAK_SHARES = (0.15, 0.4, 0.7, 0.95)


@dataclass
class Node:
    name: str
    cores: int
    mem_gib: int
    gpus: int
    gpu_mem_gib: int = 0


@dataclass
class Job:
    id: int
    user: str
    node: Node
    start: datetime
    end: datetime
    cpus: int
    mem_gib: int
    gpus: list[int]
    cmds: list[str]
    state: str
    load: float  # fraction of the allocated cores kept busy
    pids: list[int] = field(default_factory=list)

    @property
    def elapsed(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def user_cpu(self) -> int:
        return int(self.elapsed * self.cpus * self.load)

    @property
    def system_cpu(self) -> int:
        return self.user_cpu % 60

    @property
    def peak_kib(self) -> int:
        """The job's true memory high-water mark: a share of its allocation."""
        return int(self.mem_gib * 1048576 * PEAK_SHARES[self.id % len(PEAK_SHARES)])

    @property
    def peak_time(self) -> datetime:
        """Memory peaks half-way through the job."""
        return self.start + (self.end - self.start) / 2


def make_nodes(cluster: str, count: int) -> list[Node]:
    nodes = []
    for i in range(1, count + 1):
        if i % 2:
            nodes.append(Node(f"{cluster[0]}-gpu{i}", 64, 256, 4, 40))
        else:
            nodes.append(Node(f"{cluster[0]}-cpu{i}", 128, 512, 0))
    return nodes


def schedule(rng: random.Random, nodes: list[Node], days: int, first_id: int,
             procs: int = 4) -> list[Job]:  # fmt: skip
    """Jobs back to back on every node; `procs` is about how many processes a full node runs."""
    jobs: list[Job] = []
    job_id = first_id
    end_of_data = START + timedelta(days=days)
    for node in nodes:
        t = START + timedelta(minutes=rng.randrange(0, 120))
        while t < end_of_data:
            length = timedelta(minutes=rng.choice([20, 45, 90, 180, 400]))
            user = rng.choice(USERS)
            gpus = sorted(rng.sample(range(node.gpus), rng.randint(1, node.gpus))) if node.gpus else []
            cpus = rng.choice([1, 4, 16, 32, node.cores // 2, node.cores])
            state = rng.choices(["COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED"],
                                weights=[80, 8, 5, 4, 3])[0]  # fmt: skip
            # Processes in proportion to the cores the job holds: MPI-style ranks of one
            # program, plus a helper or two.  A full node then runs about `procs` of them.
            ranks = max(1, round(procs * cpus / node.cores))
            helpers = rng.sample(COMMANDS, rng.randint(1, 2))
            cmds = [helpers[0]] * ranks + helpers[1:]
            jobs.append(Job(job_id, user, node, t, t + length, cpus, rng.choice([4, 16, 64]),
                            gpus, cmds, state, rng.choice([0.05, 0.5, 0.95]),
                            [rng.randrange(2000, 4_000_000) for _ in cmds]))  # fmt: skip
            job_id += 1
            t = t + length + timedelta(minutes=rng.choice([0, 5, 30]))
    return jobs


def sample_times(days: int, interval: int) -> list[datetime]:
    n = days * 24 * 60 // interval
    return [START + timedelta(minutes=interval * k) for k in range(n)]


def day_dir(root: Path, cluster: str, t: datetime) -> Path:
    d = root / "data" / cluster / f"{t.year:04d}" / f"{t.month:02d}" / f"{t.day:02d}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def running(jobs: list[Job], node: Node, t: datetime) -> list[Job]:
    return [j for j in jobs if j.node is node and j.start <= t < j.end]


def proc_figures(rng: random.Random, job: Job, t: datetime, k: int, interval: timedelta) -> dict:
    elapsed = (t - job.start).total_seconds()
    share = job.cpus * job.load / len(job.cmds)
    cpu_pct = round(100 * share * rng.uniform(0.8, 1.0), 1)
    # Between half and 90% of the peak, except at the sample where memory peaks: the
    # processes' sum then equals the job's true peak (to a KiB per process).
    level = 0.5 + 0.8 * (rng.uniform(0.1, 0.6) - 0.1)
    if job.peak_time <= t < job.peak_time + interval:
        level = 1.0
    return {
        "cpu_pct": cpu_pct,
        "cputime": int(elapsed * share),
        "rss_kib": int(job.peak_kib * level / len(job.cmds)),
        "vm_kib": int(job.mem_gib * 1024 * 1024 * 0.8 / len(job.cmds)),
        "gpu_pct": round(rng.uniform(0, 95), 1) if job.gpus and k == 0 else 0.0,
        "gpumem_pct": round(rng.uniform(5, 60), 1) if job.gpus and k == 0 else 0.0,
        "gpu_kib": int(job.node.gpu_mem_gib * 1024 * 1024 * 0.3) if job.gpus and k == 0 else 0,
    }


# ---------------------------------------------------------------------------------------------
# Old formats (alpha)


def old_sample_lines(rng: random.Random, jobs: list[Job], node: Node, t: datetime,
                     interval: timedelta) -> list[str]:
    stamp = t.astimezone(LOCAL).isoformat()
    head = f"v=0.11.1,time={stamp},host={node.name},cores={node.cores},memtotalkib={node.mem_gib * 1048576}"
    active = running(jobs, node, t)
    if not active:
        return [f"{head},user=root,cmd=_heartbeat_"]
    lines = []
    for job in active:
        for k, (cmd, pid) in enumerate(zip(job.cmds, job.pids, strict=True)):
            f = proc_figures(rng, job, t, k, interval)
            gpus = ",".join(map(str, job.gpus)) if job.gpus else "none"
            gpu_field = f'"gpus={gpus}"' if "," in gpus else f"gpus={gpus}"
            line = (f"{head},user={job.user},pid={pid},ppid=1,job={job.id},cmd={cmd},"
                    f"cpu%={f['cpu_pct']},cpukib={f['vm_kib']},rssanonkib={f['rss_kib']},"
                    f"{gpu_field},gpu%={f['gpu_pct']},gpumem%={f['gpumem_pct']},"
                    f"gpukib={f['gpu_kib']},cputime_sec={f['cputime']}")  # fmt: skip
            lines.append(line)
    return lines


def old_sysinfo(node: Node, t: datetime) -> str:
    gpu_desc = f", {node.gpus}x NVIDIA A100 @ {node.gpu_mem_gib}GiB" if node.gpus else ""
    obj = {
        "version": "0.11.1",
        "timestamp": t.astimezone(LOCAL).isoformat(),
        "hostname": node.name,
        "description": f"2x{node.cores // 4} (hyperthreaded) AMD EPYC 7543, {node.mem_gib} GiB"
        + gpu_desc,
        "cpu_cores": node.cores,
        "mem_gb": node.mem_gib,
        "gpu_cards": node.gpus,
        "gpumem_gb": node.gpus * node.gpu_mem_gib,
    }
    return json.dumps(obj, indent=1)


def slurm_elapsed(seconds: int) -> str:
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{d}-" if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def old_sacct_lines(job: Job) -> list[str]:
    elapsed, used, system = job.elapsed, job.user_cpu, job.system_cpu
    tres = f"billing={job.cpus},cpu={job.cpus},mem={job.mem_gib}G,node=1"
    if job.gpus:
        tres += f",gres/gpu:a100={len(job.gpus)},gres/gpu={len(job.gpus)}"
    stamp = {k: v.astimezone(LOCAL).isoformat() for k, v in
             (("Submit", job.start - timedelta(minutes=3)), ("Start", job.start),
              ("End", job.end))}  # fmt: skip
    state = "CANCELLED by 1001" if job.state == "CANCELLED" else job.state
    exit_code = "0:0" if job.state == "COMPLETED" else "1:0"
    main = (f"v=0.1.0,JobID={job.id},JobIDRaw={job.id},User={job.user},"
            f"Account={ACCOUNTS[job.user]},JobName=job{job.id},State={state},"
            f"Start={stamp['Start']},End={stamp['End']},Submit={stamp['Submit']},"
            f"ElapsedRaw={elapsed},ExitCode={exit_code},ReqCPUS={job.cpus},ReqNodes=1,"
            f"ReqMem={job.mem_gib}G,TimelimitRaw={int(elapsed / 60 * 1.5) + 10},"
            f"UserCPU={slurm_elapsed(used)},SystemCPU=00:00:{system:02d},"
            f"NodeList={job.node.name},Partition={'gpu' if job.gpus else 'normal'},"
            f'"AllocTRES={tres}"')  # fmt: skip
    batch = (f"v=0.1.0,JobID={job.id}.batch,JobIDRaw={job.id}.batch,Account={ACCOUNTS[job.user]},"
             f"JobName=batch,State={job.state},Start={stamp['Start']},End={stamp['End']},"
             f"ElapsedRaw={elapsed},MaxRSS={job.peak_kib}K,"
             f"UserCPU={slurm_elapsed(used)},SystemCPU=00:00:{system:02d},"
             f"NodeList={job.node.name}")  # fmt: skip
    return [main, batch]


# ---------------------------------------------------------------------------------------------
# New formats (beta)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_sample(rng: random.Random, jobs: list[Job], node: Node, t: datetime, cluster: str,
               interval: timedelta) -> str:
    elapsed_boot = int((t - START).total_seconds()) + 86400
    jobs_out = []
    for job in running(jobs, node, t):
        procs = []
        for k, (cmd, pid) in enumerate(zip(job.cmds, job.pids, strict=True)):
            f = proc_figures(rng, job, t, k, interval)
            p = {"resident_memory": f["rss_kib"], "virtual_memory": f["vm_kib"], "cmd": cmd,
                 "pid": pid, "ppid": 1, "cpu_avg": f["cpu_pct"], "cpu_time": f["cputime"]}  # fmt: skip
            if job.gpus and k == 0:
                p["gpus"] = [{"index": g, "uuid": f"GPU-{node.name}-{g}",
                              "gpu_util": f["gpu_pct"] / len(job.gpus),
                              "gpu_memory": f["gpu_kib"] // len(job.gpus),
                              "gpu_memory_util": f["gpumem_pct"] / len(job.gpus)}
                             for g in job.gpus]  # fmt: skip
            procs.append(p)
        jobs_out.append({"job": job.id, "user": job.user, "epoch": 0, "processes": procs})
    system: dict = {
        "boot": iso(START - timedelta(days=1)),
        "cpus": [elapsed_boot // 3 + c for c in range(node.cores)],
        "used_memory": node.mem_gib * 1048576 // 4,
        "load1": round(rng.uniform(0, node.cores / 2), 2),
    }
    if node.gpus:
        system["gpus"] = [{"index": g, "uuid": f"GPU-{node.name}-{g}", "memory": 1024,
                           "ce_util": rng.randint(0, 100), "memory_util": rng.randint(0, 50),
                           "power": 200, "power_limit": 400} for g in range(node.gpus)]  # fmt: skip
        system["gpus"][0].pop("index")  # index 0 is omitted, as Sonar omits zeros
    attrs = {"time": iso(t), "cluster": cluster, "node": node.name, "system": system,
             "jobs": jobs_out}  # fmt: skip
    env = {"meta": {"producer": "sonar", "version": "0.16.0"},
           "data": {"type": "sample", "attributes": attrs}}  # fmt: skip
    return json.dumps(env, separators=(",", ":"))


def new_sysinfo(node: Node, t: datetime, cluster: str) -> str:
    attrs = {"time": iso(t), "cluster": cluster, "node": node.name, "os_name": "Linux",
             "os_release": "5.14.0", "architecture": "x86_64", "sockets": 2,
             "cores_per_socket": node.cores // 4, "threads_per_core": 2,
             "cpu_model": "AMD EPYC 7543", "memory": node.mem_gib * 1048576,
             "numa_nodes": 2, "distances": [[10, 32], [32, 10]]}  # fmt: skip
    if node.gpus:
        attrs["cards"] = [{"index": g, "uuid": f"GPU-{node.name}-{g}", "manufacturer": "NVIDIA",
                           "model": "NVIDIA A100", "memory": node.gpu_mem_gib * 1048576}
                          for g in range(node.gpus)]  # fmt: skip
    return json.dumps({"meta": {"producer": "sonar", "version": "0.16.0"},
                       "data": {"type": "sysinfo", "attributes": attrs}}, separators=(",", ":"))


def new_jobs_line(jobs: list[Job], t: datetime, cluster: str) -> str:
    out = []
    for job in jobs:
        elapsed, used, system = job.elapsed, job.user_cpu, job.system_cpu
        tres = f"billing={job.cpus},cpu={job.cpus},mem={job.mem_gib}G,node=1"
        if job.gpus:
            tres += f",gres/gpu={len(job.gpus)}"
        base = {"job_id": job.id, "job_name": f"job{job.id}", "account": ACCOUNTS[job.user],
                "submit_time": iso(job.start - timedelta(minutes=3)),
                "start_time": iso(job.start), "end_time": iso(job.end),
                "time_limit": int(elapsed / 60 * 1.5) + 12, "partition": "gpu" if job.gpus else "normal",
                "nodes": [job.node.name], "allocated_resources": tres,
                "requested_cpus": job.cpus, "requested_node_count": 1,
                "requested_memory_per_node": job.mem_gib * 1048576}  # fmt: skip
        out.append(base | {"job_state": job.state, "user_name": job.user,
                           "exit_code": 0 if job.state == "COMPLETED" else 1,
                           "sacct": {"UserCPU": used, "SystemCPU": system,
                                     "ElapsedRaw": elapsed}})  # fmt: skip
        out.append(base | {"job_step": "batch", "job_state": job.state,
                           "sacct": {"MaxRSS": job.peak_kib, "UserCPU": used,
                                     "SystemCPU": system, "ElapsedRaw": elapsed}})  # fmt: skip
    attrs = {"time": iso(t), "cluster": cluster, "slurm_jobs": out}
    return json.dumps({"meta": {"producer": "sonar", "version": "0.16.0"},
                       "data": {"type": "job", "attributes": attrs}}, separators=(",", ":"))


def cluzter_line(nodes: list[Node], t: datetime, cluster: str) -> str:
    gpu = [n.name for n in nodes if n.gpus]
    cpu = [n.name for n in nodes if not n.gpus]
    attrs = {"time": iso(t), "cluster": cluster, "slurm": True,
             "partitions": [{"name": "gpu", "nodes": gpu}, {"name": "normal", "nodes": cpu}],
             "nodes": [{"names": gpu, "states": ["MIXED"]},
                       {"names": cpu, "states": ["IDLE"]}]}  # fmt: skip
    return json.dumps({"meta": {"producer": "sonar", "version": "0.16.0"},
                       "data": {"type": "cluster", "attributes": attrs}}, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def write_config(root: Path, cluster: str, nodes: list[Node], desc: str) -> None:
    conf = root / "cluster-config"
    conf.mkdir(parents=True, exist_ok=True)
    doc = {"name": cluster, "description": desc, "aliases": [cluster[0]],
           "exclude-user": ["root"],
           "nodes": [{"hostname": n.name, "description": f"{n.cores} cores, {n.mem_gib} GiB",
                      "cpu_cores": n.cores, "mem_gb": n.mem_gib, "gpu_cards": n.gpus,
                      "gpumem_gb": n.gpus * n.gpu_mem_gib} for n in nodes]}  # fmt: skip
    (conf / f"{cluster}-config.json").write_text(json.dumps(doc, indent=1) + "\n")


def generate(out: Path, nodes_per_cluster: int, days: int, seed: int, interval: int,
             formats: tuple[str, ...] = ("old", "new"), procs: int = 4) -> None:  # fmt: skip
    """Write the tree (see the module docstring)."""
    rng = random.Random(seed)
    times = sample_times(days, interval)
    step = timedelta(minutes=interval)
    truth = ["cluster,job,account,start,cpus,mem_kib,elapsed_s,cpu_s,peak_kib,gpus"]
    clusters = {"alpha": "old", "beta": "new"}
    for cluster, fmt in clusters.items():
        if fmt not in formats:
            continue
        nodes = make_nodes(cluster, nodes_per_cluster)
        jobs = schedule(rng, nodes, days, 1000 if cluster == "alpha" else 5000, procs)
        write_config(out, cluster, nodes, f"Test cluster {cluster} ({fmt} formats)")
        for t in times:
            for node in nodes:
                d = day_dir(out, cluster, t)
                if fmt == "old":
                    write_lines(d / f"{node.name}.csv", old_sample_lines(rng, jobs, node, t, step))
                else:
                    write_lines(d / f"0+sample-{node.name}.json",
                                [new_sample(rng, jobs, node, t, cluster, step)])
        for day in range(days):
            t = START + timedelta(days=day, hours=6, minutes=17)
            d = day_dir(out, cluster, t)
            for node in nodes:
                if fmt == "old":
                    write_lines(d / f"sysinfo-{node.name}.json", [old_sysinfo(node, t)])
                else:
                    write_lines(d / f"0+sysinfo-{node.name}.json", [new_sysinfo(node, t, cluster)])
            if fmt == "new":
                write_lines(d / "0+cluzter-slurm.json", [cluzter_line(nodes, t, cluster)])
        for job in jobs:
            d = day_dir(out, cluster, job.end)
            if fmt == "old":
                write_lines(d / "slurm-sacct.csv", old_sacct_lines(job))
        if fmt == "new":
            for day in range(days + 1):
                t = START + timedelta(days=day, hours=23, minutes=55)
                done = [j for j in jobs if t - timedelta(days=1) < j.end <= t]
                if done:
                    write_lines(day_dir(out, cluster, t) / "0+job-slurm.json",
                                [new_jobs_line(done, t, cluster)])
        truth += [f"{cluster},{j.id},{ACCOUNTS[j.user]},{iso(j.start)},{j.cpus},"
                  f"{j.mem_gib * 1048576},{j.elapsed},"
                  f"{j.user_cpu + j.system_cpu},{j.peak_kib},{len(j.gpus)}" for j in jobs]
    # What the jobs really used, for checking efficiency figures (not part of any tree format).
    (out / "truth.csv").write_text("\n".join(truth) + "\n")
    conf = out / "cluster-config"
    conf.mkdir(parents=True, exist_ok=True)
    aliases = [{"alias": "a", "value": "alpha"}, {"alias": "b", "value": "beta"}]
    (conf / "cluster-aliases.json").write_text(json.dumps(aliases) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interval", type=int, default=15, help="minutes between samples")
    ap.add_argument("--formats", default="old,new", help="which clusters: old (alpha), new (beta)")
    ap.add_argument("--procs", type=int, default=4,
                    help="processes a fully busy node runs (realistic: 30-60)")  # fmt: skip
    a = ap.parse_args()
    if a.out.exists() and any(a.out.iterdir()):
        ap.error(f"{a.out} is not empty; generate into a new directory")
    generate(a.out, a.nodes, a.days, a.seed, a.interval, tuple(a.formats.split(",")), a.procs)


if __name__ == "__main__":
    main()
