//! `retrograd eval`: accuracy and confusion matrix of a saved model on a test set.

use std::path::PathBuf;

use clap::Args;
use retrograd_nn::data::DataSpec;
use retrograd_nn::train::Classifier;
use serde_json::json;

/// Options of `retrograd eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The model file written by `retrograd train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Data set whose test split to use [default: the one the model was trained on].
    #[arg(long)]
    pub data: Option<DataSpec>,
    /// Number of worker threads for tensor kernels, 1 to 1024 [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `retrograd eval`.
pub fn run(args: &EvalArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = args.threads {
        crate::train::set_threads(n)?;
    }
    let mut classifier = Classifier::load(&args.model)?;
    let spec = match &args.data {
        Some(d) => d.clone(),
        None => classifier.data_spec()?,
    };
    let test = spec.load_test()?;
    let eval = classifier.evaluate(&test)?;
    let c = &eval.confusion;
    if args.json {
        let out = json!({
            "accuracy": c.accuracy(),
            "correct": c.correct(),
            "samples": c.total(),
            "loss": eval.loss,
            "data": spec.to_string(),
            "model_file": args.model.display().to_string(),
            "confusion_matrix": c.counts,
        });
        crate::train::say!("{out}");
    } else {
        crate::train::say!(
            "model {} on the {spec} test set ({} samples)",
            args.model.display(),
            c.total()
        );
        crate::train::say!(
            "accuracy {:.2}% ({}/{}), loss {:.4}",
            100.0 * c.accuracy(),
            c.correct(),
            c.total(),
            eval.loss
        );
        crate::train::say!("confusion matrix (rows: true class, columns: predicted):");
        crate::train::say!("{}", c.to_string().trim_end());
    }
    Ok(())
}
