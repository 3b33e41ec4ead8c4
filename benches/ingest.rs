//! Ingest + segment throughput on the 67 ParlaTO interviews (MB/s and passages/s).

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use terreno::config::Config;
use terreno::pipeline::ingest_and_segment;
use terreno::progress::Progress;

fn bench(c: &mut Criterion) {
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/parlato/linear-orthographic");
    if !corpus.exists() {
        eprintln!("{} is missing: nothing to measure", corpus.display());
        return;
    }
    let bytes: u64 =
        std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let config = Config::default();
    let run = || {
        ingest_and_segment(&config, std::slice::from_ref(&corpus), false, Progress::new(true))
            .unwrap()
    };
    let ingested = run();
    let (docs, passages) = (&ingested.docs, &ingested.passages);
    // Sanity: the whole corpus, so the benchmark cannot time a no-op.
    assert_eq!(docs.len(), 67);
    assert!(passages.len() > 10_000);

    let mut group = c.benchmark_group("ingest_segment_parlato67");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("bytes", |b| b.iter(|| run().passages.len()));
    group.throughput(Throughput::Elements(passages.len() as u64));
    group.bench_function("passages", |b| b.iter(|| run().passages.len()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
