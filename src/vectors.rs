//! Vector maths shared by the stages: unit length, cosine similarity, the mean of a set and a
//! vector centred on it. A leaf module: it knows nothing of passages or runs.

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// The mean of some vectors.
pub fn mean(vectors: &[Vec<f32>]) -> Vec<f32> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut m = vec![0f64; dim];
    for v in vectors {
        m.iter_mut().zip(v).for_each(|(a, x)| *a += *x as f64);
    }
    m.iter().map(|x| (x / vectors.len().max(1) as f64) as f32).collect()
}

/// `v` minus `mean`, normalised.
pub fn centre(v: &[f32], mean: &[f32]) -> Vec<f32> {
    let mut c: Vec<f32> = v.iter().zip(mean).map(|(a, b)| a - b).collect();
    normalize(&mut c);
    c
}
