//! `retrograd predict`: print the predicted label of each sample.

use std::path::PathBuf;

use clap::Args;
use retrograd_nn::data::{DataSpec, Dataset};
use retrograd_nn::train::Classifier;
use serde_json::json;

/// Options of `retrograd predict`.
#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// The model file written by `retrograd train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Samples to classify: the test split of digits, fashion-mnist or idx:DIR, or every row
    /// of csv:FILE (features only, or features and a label).
    #[arg(long)]
    pub data: DataSpec,
    /// Number of worker threads for tensor kernels, 1 to 1024 [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object instead of one label per line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `retrograd predict`.
pub fn run(args: &PredictArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = args.threads {
        crate::train::set_threads(n)?;
    }
    let mut classifier = Classifier::load(&args.model)?;
    let (samples, labelled): (Dataset, bool) = match &args.data {
        DataSpec::Csv(path) => classifier.read_csv_samples(path)?,
        spec => (spec.load_test()?, true),
    };
    let predictions = classifier.predict(&samples)?;
    let accuracy = labelled.then(|| {
        let right = predictions
            .iter()
            .zip(&samples.labels)
            .filter(|(p, l)| p == l)
            .count();
        right as f64 / predictions.len().max(1) as f64
    });
    if args.json {
        let out = json!({ "predictions": predictions, "accuracy": accuracy, "samples": predictions.len() });
        crate::train::say!("{out}");
    } else {
        let mut text = String::with_capacity(predictions.len() * 2);
        for p in &predictions {
            text.push_str(&p.to_string());
            text.push('\n');
        }
        crate::train::say!("{}", text.trim_end());
        if let Some(a) = accuracy {
            eprintln!(
                "{} predictions, {:.2}% match the labels",
                predictions.len(),
                100.0 * a
            );
        }
    }
    Ok(())
}
