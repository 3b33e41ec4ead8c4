//! `terreno slurm` against a real Slurm: a single-node cluster started here from Debian's
//! `slurm-wlm` and `munge` (munged, slurmctld and slurmd on this machine, a two-CPU node in a
//! generated `slurm.conf`). It needs root and those packages: `make test-slurm` installs them
//! and runs it; `.ci/run` does.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A daemon killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// munged, unless one already answers.
fn munge() {
    let works = || {
        Command::new("sh")
            .args(["-c", "munge -n | unmunge"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return;
    }
    for d in ["/run/munge", "/var/log/munge", "/var/lib/munge"] {
        std::fs::create_dir_all(d).unwrap();
        assert!(Command::new("chown").args(["munge:munge", d]).status().unwrap().success());
    }
    let started = Command::new("runuser").args(["-u", "munge", "--", "/usr/sbin/munged"]).status();
    assert!(started.is_ok_and(|s| s.success()), "munged did not start");
    let t = Instant::now();
    while !works() {
        assert!(t.elapsed() < Duration::from_secs(20), "munge does not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn slurm_conf(dir: &Path) -> std::path::PathBuf {
    let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    let host = host.trim();
    let d = dir.display();
    for sub in ["state", "spool"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let conf = format!(
        "ClusterName=terreno\n\
         SlurmctldHost={host}(127.0.0.1)\n\
         AuthType=auth/munge\n\
         CryptoType=crypto/munge\n\
         ProctrackType=proctrack/linuxproc\n\
         TaskPlugin=task/none\n\
         SchedulerType=sched/backfill\n\
         SelectType=select/cons_tres\n\
         SelectTypeParameters=CR_Core\n\
         SlurmctldPort={}\n\
         SlurmdPort={}\n\
         StateSaveLocation={d}/state\n\
         SlurmdSpoolDir={d}/spool\n\
         SlurmctldPidFile={d}/slurmctld.pid\n\
         SlurmdPidFile={d}/slurmd.pid\n\
         SlurmctldLogFile={d}/slurmctld.log\n\
         SlurmdLogFile={d}/slurmd.log\n\
         SlurmUser=root\n\
         SlurmdUser=root\n\
         ReturnToService=2\n\
         MpiDefault=none\n\
         JobCompType=jobcomp/none\n\
         JobAcctGatherType=jobacct_gather/none\n\
         NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
         PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
        free_port(),
        free_port()
    );
    let path = dir.join("slurm.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

#[test]
#[ignore = "needs root and Slurm (Debian's slurm-wlm and munge): `make test-slurm` runs it"]
fn a_slurm_job_array_and_its_merge_write_the_unsharded_run() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "Slurm's daemons need root");
    let dir = tempfile::tempdir().unwrap();
    munge();
    let conf = slurm_conf(dir.path());
    let daemon = |name: &str| {
        Daemon(
            Command::new(name)
                .args(["-D", "-f"])
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{name}: {e} (make test-slurm installs slurm-wlm)")),
        )
    };
    let _ctld = daemon("slurmctld");
    let _slurmd = daemon("slurmd");
    let sinfo = || {
        Command::new("sinfo")
            .args(["-h", "-o", "%T"])
            .env("SLURM_CONF", &conf)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let t = Instant::now();
    while sinfo() != "idle" {
        assert!(t.elapsed() < Duration::from_secs(60), "the node is {:?}", sinfo());
        std::thread::sleep(Duration::from_millis(200));
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = dir.path().join("run");
    let out = terreno()
        .env("SLURM_CONF", &conf)
        .args(["slurm"])
        .arg(&run)
        .arg(root.join("data/parlato"))
        .args(["--shards", "3", "--cpus", "1", "--time", "00:20:00", "--config"])
        .arg(root.join("data/sample.toml"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .assert()
        .success();
    let said = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(said.starts_with("submitted: job array "), "{said}");
    let t = Instant::now();
    loop {
        let status = terreno().args(["slurm", "status"]).arg(&run).output().unwrap();
        let status = String::from_utf8_lossy(&status.stdout).to_string();
        if status.contains("merged: the run is finished") {
            assert!(status.contains("3 of 3 shards finished"), "{status}");
            break;
        }
        let log = std::fs::read_to_string(run.join("slurm/merge.out")).unwrap_or_default();
        assert!(t.elapsed() < Duration::from_secs(600), "not merged in 10 minutes: {status}{log}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let whole = dir.path().join("whole");
    sample_run(&whole, &[]);
    for name in ["clusters.parquet", "candidates.json"] {
        assert!(
            std::fs::read(run.join(name)).unwrap() == std::fs::read(whole.join(name)).unwrap(),
            "{name} of the Slurm run differs from the unsharded run's"
        );
    }
    for i in 1..=3 {
        assert!(run.join(format!("slurm/shard-{i}.out")).exists(), "no log of task {i}");
    }
}
