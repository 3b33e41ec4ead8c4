//! Slurm: `terreno slurm RUN INPUT… --shards N` writes a job array (one task per shard, each
//! `terreno run … --shard I/N`) and a merge job that starts when every task has succeeded
//! (`afterok`), and submits both with `sbatch` where Slurm is installed. Slurm does the
//! scheduling; terreno only writes its job scripts and reads what the shards wrote
//! (`terreno slurm status RUN`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the jobs are asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The run directory.
    pub run: PathBuf,
    /// The inputs.
    pub inputs: Vec<PathBuf>,
    /// N.
    pub shards: usize,
    /// `run`'s other options, passed on to every shard (`--config FILE`, …).
    pub run_options: Vec<String>,
    /// The model folder the nodes read.
    pub model_dir: Option<PathBuf>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` of each job (Slurm's forms: `MM`, `HH:MM:SS`, `D-HH`).
    pub time: Option<String>,
    /// `--gpus` per task.
    pub gpus: Option<u32>,
    /// CPUs per task.
    pub cpus: u32,
    /// Memory per task (Slurm's form, `8G`).
    pub mem: Option<String>,
}

/// The two job scripts.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// The job array: one task per shard.
    pub shards: PathBuf,
    /// The merge.
    pub merge: PathBuf,
}

/// A word for bash, quoted so that nothing in it is interpreted (shlex's POSIX quoting; a
/// path with a NUL byte cannot be written in a script at all).
fn quote(s: &str) -> Result<String> {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .map_err(|_| Error::Config(format!("{s:?} cannot be written in a job script")))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn header(r: &Request, name: &str, log: &Path) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name={name}\n"));
    s.push_str(&format!("#SBATCH --output={}\n", log.display()));
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", r.cpus.max(1)));
    s.push_str("#SBATCH --ntasks=1\n");
    if let Some(p) = &r.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &r.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(g) = r.gpus.filter(|&g| g > 0) {
        s.push_str(&format!("#SBATCH --gpus={g}\n"));
    }
    if let Some(m) = &r.mem {
        s.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    s
}

/// Writes `RUN/slurm/shards.sbatch` and `RUN/slurm/merge.sbatch`, calling this very binary by
/// its absolute path (the nodes are expected to see the same file systems).
pub fn write_scripts(r: &Request) -> Result<Scripts> {
    if r.shards == 0 {
        return Err(Error::Config("--shards must be at least 1".into()));
    }
    let run = absolute(&r.run);
    let dir = run.join(crate::run::SLURM);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let exe = std::env::current_exe().map_err(|e| Error::io(Path::new("terreno"), e))?;
    let exe = quote(&exe.display().to_string())?;
    let model = match &r.model_dir {
        Some(m) => format!(" --model-dir {}", quote(&absolute(m).display().to_string())?),
        None => String::new(),
    };
    let inputs: Vec<String> = r
        .inputs
        .iter()
        .map(|p| quote(&absolute(p).display().to_string()))
        .collect::<Result<_>>()?;
    let options: Vec<String> = r.run_options.iter().map(|o| quote(o)).collect::<Result<_>>()?;
    let run_q = quote(&run.display().to_string())?;

    let mut shards = header(r, "terreno-shards", &dir.join("shard-%a.out"));
    shards.push_str(&format!("#SBATCH --array=1-{}\n", r.shards));
    shards.push_str("set -euo pipefail\n");
    shards.push_str(&format!(
        "exec {exe} run {} --out {run_q} --shard \"$SLURM_ARRAY_TASK_ID/{}\" --quiet \
         --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"{model}{}{}\n",
        inputs.join(" "),
        r.shards,
        if options.is_empty() { "" } else { " " },
        options.join(" ")
    ));
    let mut merge = header(r, "terreno-merge", &dir.join("merge.out"));
    merge.push_str("set -euo pipefail\n");
    merge.push_str(&format!(
        "exec {exe} merge {run_q} --quiet --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"{model}\n"
    ));
    let scripts = Scripts { shards: dir.join("shards.sbatch"), merge: dir.join("merge.sbatch") };
    crate::files::write_text(&scripts.shards, &shards)?;
    crate::files::write_text(&scripts.merge, &merge)?;
    Ok(scripts)
}

/// Whether `sbatch` is on the PATH.
pub fn available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("sbatch").is_file()))
}

/// Submits the array, then the merge after it (`afterok`); returns their job ids.
pub fn submit(scripts: &Scripts) -> Result<(String, String)> {
    let sbatch = |args: &[&str], script: &Path| -> Result<String> {
        let out = std::process::Command::new("sbatch")
            .arg("--parsable")
            .args(args)
            .arg(script)
            .output()
            .map_err(|e| Error::io(script, e))?;
        if !out.status.success() {
            return Err(Error::Config(format!(
                "sbatch {} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // `--parsable` prints "id" or "id;cluster".
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.trim().split(';').next().unwrap_or_default().to_string())
    };
    let array = sbatch(&[], &scripts.shards)?;
    let merge = sbatch(
        &[&format!("--dependency=afterok:{array}"), "--kill-on-invalid-dep=yes"],
        &scripts.merge,
    )?;
    Ok((array, merge))
}

/// `terreno slurm status RUN`: the shards done, running or stopped, and whether the merge is.
pub fn status(run: &Path) -> Result<String> {
    let p = crate::shard::progress(run)?;
    let mut s = String::new();
    let n = p.count.map_or("?".to_string(), |n| n.to_string());
    s.push_str(&format!(
        "{}: {} of {n} shards finished ({} passages embedded)\n",
        run.display(),
        p.finished.len(),
        p.passages
    ));
    if let Some(n) = p.count {
        let waiting: Vec<String> = (1..=n)
            .filter(|i| !p.finished.contains(i) && !p.unfinished.contains_key(i))
            .map(|i| i.to_string())
            .collect();
        if !waiting.is_empty() {
            s.push_str(&format!("  not started: {}\n", waiting.join(", ")));
        }
    }
    for (i, stages) in &p.unfinished {
        s.push_str(&format!(
            "  shard {i}: running or stopped, after {}\n",
            stages.last().map_or("nothing yet", String::as_str)
        ));
    }
    let dir = crate::run::RunDir::new(run);
    let merged = dir.file(crate::run::MANIFEST).exists() && dir.finished().is_ok();
    s.push_str(if merged { "  merged: the run is finished\n" } else { "  not merged yet\n" });
    Ok(s)
}
