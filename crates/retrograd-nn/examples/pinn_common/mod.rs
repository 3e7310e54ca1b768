//! Shared by the PINN examples: command-line flags, the prediction-versus-exact plot, and
//! the report of the training run and the checks.
//! (Not an example of its own: a module of each.)

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use retrograd_nn::optim::LbfgsReport;
use serde_json::{Map, Value};

/// DejaVu Sans, embedded so that text renders without system font libraries.
static FONT: &[u8] = include_bytes!("../../../retrograd-cli/assets/DejaVuSans.ttf");

/// `--json`, `--quick`, `--plot PATH`, and the whole-number options `--NAME N` that an
/// example names.
pub struct Flags {
    pub json: bool,
    pub quick: bool,
    pub plot: Option<PathBuf>,
    /// The whole-number options given, by name (without the dashes).
    pub numbers: Vec<(&'static str, usize)>,
}

impl Flags {
    pub fn parse(default_plot: &str, numeric: &[&'static str]) -> Result<Flags, String> {
        let mut flags = Flags {
            json: false,
            quick: false,
            plot: Some(PathBuf::from(default_plot)),
            numbers: Vec::new(),
        };
        let usage = || {
            let mut u = String::from("use --json, --quick, --plot PATH");
            for name in numeric {
                u.push_str(&format!(", --{name} N"));
            }
            u
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--json" => flags.json = true,
                "--quick" => flags.quick = true,
                "--plot" => {
                    let p = args.next().ok_or("--plot needs a path (or `none`)")?;
                    flags.plot = (p != "none").then(|| PathBuf::from(p));
                }
                other => {
                    let name = other
                        .strip_prefix("--")
                        .and_then(|o| numeric.iter().find(|n| **n == o))
                        .ok_or_else(|| format!("unknown argument {other}; {}", usage()))?;
                    let value = args
                        .next()
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|&v| v > 0)
                        .ok_or_else(|| format!("{other} needs a positive whole number"))?;
                    flags.numbers.retain(|(n, _)| n != name);
                    flags.numbers.push((name, value));
                }
            }
        }
        Ok(flags)
    }

    /// The value given for `--NAME`, if any.
    #[allow(dead_code)] // an example that names no options never asks
    pub fn number(&self, name: &str) -> Option<usize> {
        self.numbers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// One panel: curves `(name, x, y)`, the first drawn as a line, the others dashed.
pub struct Panel<'a> {
    pub title: String,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub curves: Vec<(String, Vec<f64>, Vec<f64>)>,
}

/// Draws the panels side by side in one PNG.
pub fn plot(path: &Path, title: &str, panels: &[Panel]) -> Result<(), Box<dyn std::error::Error>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the embedded font is not a valid TrueType font")?;
    let width = 520 * panels.len() as u32;
    let root = BitMapBackend::new(path, (width, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let areas = root.split_evenly((1, panels.len()));
    let colors = [
        RGBColor(30, 90, 200),
        RGBColor(220, 60, 30),
        RGBColor(0, 140, 60),
    ];
    for (area, panel) in areas.iter().zip(panels) {
        let xs: Vec<f64> = panel
            .curves
            .iter()
            .flat_map(|c| c.1.iter().copied())
            .collect();
        let ys: Vec<f64> = panel
            .curves
            .iter()
            .flat_map(|c| c.2.iter().copied())
            .collect();
        let range = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let pad = 0.05 * (hi - lo).max(1e-12);
            (lo - pad)..(hi + pad)
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(range(&xs), range(&ys))?;
        chart
            .configure_mesh()
            .x_desc(panel.x_label)
            .y_desc(panel.y_label)
            .draw()?;
        for (i, (name, x, y)) in panel.curves.iter().enumerate() {
            let color = colors[i % colors.len()];
            let points = x.iter().copied().zip(y.iter().copied());
            let style = ShapeStyle::from(&color).stroke_width(if i == 0 { 3 } else { 2 });
            let series = if i == 0 {
                chart.draw_series(LineSeries::new(points, style))?
            } else {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, style))?
            };
            series
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The JSON fields both examples report of the L-BFGS phase, the whole run and the checks;
/// each example adds its own figures.
pub fn training_json(
    adam_steps: usize,
    adam_seconds: f64,
    adam_loss: f64,
    lbfgs: &LbfgsReport,
    lbfgs_seconds: f64,
    checks: &[(&str, bool)],
) -> Map<String, Value> {
    let checks: Map<String, Value> = checks
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let serde_json::Value::Object(fields) = serde_json::json!({
        "adam_steps": adam_steps,
        "adam_seconds": adam_seconds,
        "adam_loss": adam_loss,
        "lbfgs_iterations": lbfgs.iterations,
        "lbfgs_evaluations": lbfgs.evaluations,
        "lbfgs_status": format!("{:?}", lbfgs.status),
        "lbfgs_seconds": lbfgs_seconds,
        "final_loss": lbfgs.loss,
        "total_seconds": adam_seconds + lbfgs_seconds,
        "checks": checks,
    }) else {
        unreachable!("json! of braces is an object")
    };
    fields
}

/// Prints each check and where the plot went, for people.
pub fn print_checks(checks: &[(&str, bool)], plot: Option<&Path>) {
    for (name, ok) in checks {
        println!("  check {name:<28} {}", if *ok { "pass" } else { "FAIL" });
    }
    if let Some(p) = plot {
        println!("  plot: {}", p.display());
    }
}
